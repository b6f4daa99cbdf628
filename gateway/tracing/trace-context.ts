import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../gateway-env.ts";

/** W3C trace context version 00: `00-<trace id>-<parent span id>-<flags>`, lower-case hex. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const INVALID_TRACE_ID = "0".repeat(32);
const INVALID_SPAN_ID = "0".repeat(16);

/** The gateway's span of a request: its trace (continued or new) and where it hangs in it. */
export interface GatewaySpan {
  traceId: string;
  spanId: string;
  /** The client's span the gateway's continues; null when the gateway started the trace. */
  parentSpanId: string | null;
  /** The trace flags (01 = sampled), passed on as they came. */
  flags: string;
  startMs: number;
}

/** The `traceparent` naming `span` as the parent: what the backend continues and the client gets back. */
export function traceparentOf(span: GatewaySpan): string {
  return `00-${span.traceId}-${span.spanId}-${span.flags}`;
}

/**
 * Starts or continues the client's W3C trace (a malformed `traceparent` starts a new one, as the
 * spec asks) and returns the gateway's span in the `traceparent` response header.
 */
export function traceContext(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const parent = TRACEPARENT.exec(c.req.header("traceparent")?.trim() ?? "");
    const valid = parent && parent[1] !== INVALID_TRACE_ID && parent[2] !== INVALID_SPAN_ID;
    const span: GatewaySpan = {
      traceId: valid ? parent[1] : randomHex(16),
      spanId: randomHex(8),
      parentSpanId: valid ? parent[2] : null,
      flags: valid ? parent[3] : "01",
      startMs: Date.now(),
    };
    c.set("trace", span);
    c.header("traceparent", traceparentOf(span));
    await next();
  };
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
