// OpenTelemetry traces of `moxie serve` (a real process on the tiny fixture), exported over OTLP/HTTP
// to a receiver started here: each request's server span continues the caller's traceparent, the
// engine's phases are its children, and without an OTLP endpoint nothing is traced.
import { randomBytes } from "node:crypto";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatCompletionResponse } from "../../protocol/chat.ts";
import type { UsageInfo } from "../../protocol/usage.ts";
import { eventually } from "./support/eventually.ts";
import { fixture } from "./support/fixture.ts";
import { startGatewayWorker } from "./support/local-gateway.ts";
import { otlpReceiver } from "./support/otlp-receiver.ts";
import type { CollectedSpan } from "./support/otlp-spans.ts";
import { startServe, type ServeProcess } from "./support/serve-process.ts";

const secret = "test-backend-secret";
const model = "mixtral-tiny";
const messages = [{ role: "user" as const, content: "Tell me about the weather in Paris." }];
const serverSpanName = "POST /v1/chat/completions";
/** Milliseconds the backend's batch span processor waits before an export (OTEL_BSP_SCHEDULE_DELAY). */
const exportDelayMs = 1000;
const ERROR = 2;

/** A caller's span: the trace a request continues. */
function callerSpan(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** The trace id and span id of a `traceparent` header. */
function traceparentOf(response: Response): { traceId: string; spanId: string } {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(response.headers.get("traceparent") ?? "");
  expect(match, `traceparent: ${response.headers.get("traceparent")}`).not.toBeNull();
  return { traceId: match![1], spanId: match![2] };
}

function chat(
  server: ServeProcess,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, messages, temperature: 0, ...body }),
    signal,
  });
}

/** A streamed answer's usage (its last chunk's), read through [DONE]. */
async function streamedUsage(response: Response): Promise<UsageInfo> {
  let usage: UsageInfo | undefined;
  const events = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const { data } of events) {
    if (data === "[DONE]") return usage!;
    usage = (JSON.parse(data) as { usage?: UsageInfo }).usage ?? usage;
  }
  throw new Error("the stream ended without data: [DONE]");
}

/** The GenAI usage attributes a span carries for an answer's usage. */
function usageAttributes(usage: UsageInfo): Record<string, number> {
  return {
    "gen_ai.usage.input_tokens": usage.prompt_tokens,
    "gen_ai.usage.output_tokens": usage.completion_tokens,
    "gen_ai.usage.cache_read.input_tokens": usage.prompt_tokens_details!.cached_tokens,
  };
}

/**
 * The server span's children, which must be exactly `names`, each following the one before it
 * within the server span.
 */
function expectPhases(spans: CollectedSpan[], server: CollectedSpan, names: string[]): void {
  const children = spans.filter((span) => span.parentSpanId === server.spanId);
  expect(children.map((span) => span.name).sort()).toEqual([...names].sort());
  const phases = names.map((name) => children.find((span) => span.name === name)!);
  const times = [server.startMs, ...phases.flatMap((span) => [span.startMs, span.endMs]), server.endMs];
  expect(times).toEqual([...times].sort((a, b) => a - b));
}

let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
beforeAll(async () => {
  receiver = await otlpReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

describe("with OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(["--model", fixture, "--threads", "1"], {
      MOXIE_BACKEND_SECRET: secret,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      OTEL_SERVICE_NAME: undefined,
      OTEL_BSP_SCHEDULE_DELAY: String(exportDelayMs),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The spans of a trace, once its server span was exported. */
  function traceOf(traceId: string): Promise<{ spans: CollectedSpan[]; server: CollectedSpan }> {
    return eventually(
      async () => {
        const spans = receiver.spans.filter((span) => span.traceId === traceId);
        const root = spans.find((span) => span.name === serverSpanName);
        return root && { spans, server: root };
      },
      4 * exportDelayMs + 5_000,
    );
  }

  it("a completion continues the caller's trace: queue wait, prefill and decode in order under the server span, its usage in GenAI attributes", async () => {
    const caller = callerSpan();
    const response = await chat(server, { max_tokens: 8 }, { traceparent: caller.traceparent });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as ChatCompletionResponse;
    const answered = traceparentOf(response);
    expect(answered.traceId).toBe(caller.traceId);

    const { spans, server: span } = await traceOf(caller.traceId);
    expect(span).toMatchObject({
      service: "moxie-backend",
      spanId: answered.spanId,
      parentSpanId: caller.spanId,
      status: { code: 0 },
      attributes: {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.response.id": answer.id,
        "gen_ai.response.finish_reasons": [answer.choices[0].finish_reason],
        "moxie.request_id": response.headers.get("x-request-id"),
        ...usageAttributes(answer.usage),
      },
    });
    expectPhases(spans, span, ["queue wait", "prefill", "decode"]);
  });

  it("one trace spans both processes: the gateway's span, the backend's server span under it, the engine's phases under that", async () => {
    const adminToken = "trace-admin-token";
    const gateway = await startGatewayWorker({
      ADMIN_TOKEN: adminToken,
      TRACE_BACKEND_SECRET: secret,
      ALLOW_LOOPBACK_BACKENDS: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    try {
      const admin = async (method: string, path: string, body: unknown) => {
        const response = await fetch(`${gateway.url}/admin${path}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        expect(response.ok, await response.clone().text()).toBe(true);
        return response.json() as Promise<{ key: string }>;
      };
      await admin("PUT", "/models/traced", { deployment: model, type: "chat", max_context_length: 4096 });
      await admin("POST", "/backends", { id: "traced", url: server.url, secret_name: "TRACE_BACKEND_SECRET" });
      const { key } = await admin("POST", "/keys", { name: "traced" });
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "traced", messages, max_tokens: 4, stream: true }),
      });
      expect(response.status).toBe(200);
      await response.text();
      const { traceId, spanId } = traceparentOf(response);
      const spans = await eventually(
        async () => {
          const found = receiver.spans.filter((span) => span.traceId === traceId);
          return found.some((span) => span.service === "moxie-gateway") &&
            found.some((span) => span.name === serverSpanName && span.service === "moxie-backend")
            ? found
            : undefined;
        },
        4 * exportDelayMs + 5_000,
      );
      const edge = spans.find((span) => span.service === "moxie-gateway")!;
      const backend = spans.find((span) => span.service === "moxie-backend" && span.name === serverSpanName)!;
      expect(edge).toMatchObject({ spanId, parentSpanId: null, name: serverSpanName });
      expect(backend.parentSpanId).toBe(edge.spanId);
      expect(backend.startMs).toBeGreaterThanOrEqual(edge.startMs);
      expectPhases(spans, backend, ["queue wait", "prefill", "decode"]);
    } finally {
      await gateway.dispose();
    }
  });

  it("a json_schema completion first waits for its grammar: a grammar compile span before its queue wait", async () => {
    const caller = callerSpan();
    const schema = {
      type: "object",
      properties: { city: { type: "string", maxLength: 8 }, sunny: { type: "boolean" } },
      required: ["city", "sunny"],
      additionalProperties: false,
    };
    const response_format = { type: "json_schema", json_schema: { name: "weather", schema, strict: true } };
    const response = await chat(server, { max_tokens: 40, response_format }, { traceparent: caller.traceparent });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as ChatCompletionResponse;
    expect(traceparentOf(response).traceId).toBe(caller.traceId);

    const { spans, server: span } = await traceOf(caller.traceId);
    expect(span).toMatchObject({ parentSpanId: caller.spanId, attributes: usageAttributes(answer.usage) });
    expectPhases(spans, span, ["grammar compile", "queue wait", "prefill", "decode"]);
  });

  it("a stream's span ends with the stream and carries the usage of its last chunk", async () => {
    const caller = callerSpan();
    const body = { max_tokens: 12, stream: true, stream_options: { include_usage: true } };
    const response = await chat(server, body, { traceparent: caller.traceparent });
    expect(response.status).toBe(200);
    expect(traceparentOf(response).traceId).toBe(caller.traceId);
    const usage = await streamedUsage(response);

    const { spans, server: span } = await traceOf(caller.traceId);
    expect(span).toMatchObject({
      parentSpanId: caller.spanId,
      status: { code: 0 },
      attributes: { "gen_ai.request.stream": true, ...usageAttributes(usage) },
    });
    expectPhases(spans, span, ["queue wait", "prefill", "decode"]);
  });

  it("without a valid traceparent the request starts a trace of its own, named in the answer", async () => {
    const headers: Record<string, string>[] = [{}, { traceparent: "00-not-a-trace-01" }];
    for (const header of headers) {
      const response = await chat(server, { max_tokens: 2 }, header);
      expect(response.status).toBe(200);
      const answered = traceparentOf(response);
      const { server: span } = await traceOf(answered.traceId);
      expect(span).toMatchObject({ spanId: answered.spanId, parentSpanId: null });
    }
  });

  it("a refused request and a cancelled stream end their spans with status error", async () => {
    const refusedCaller = callerSpan();
    const refused = await chat(server, { model: "no-such-model" }, { traceparent: refusedCaller.traceparent });
    expect(refused.status).toBe(404);
    expect(traceparentOf(refused).traceId).toBe(refusedCaller.traceId);
    expect((await traceOf(refusedCaller.traceId)).server).toMatchObject({
      status: { code: ERROR },
      attributes: { "http.response.status_code": 404, "error.type": "model_not_found" },
    });

    // Greedy, so no EOS ends it before it is cancelled.
    const cancelledCaller = callerSpan();
    const controller = new AbortController();
    const stream = await chat(
      server,
      { max_tokens: 4000, stream: true },
      { traceparent: cancelledCaller.traceparent },
      controller.signal,
    );
    const reader = stream.body!.getReader();
    await reader.read();
    controller.abort();
    const { spans, server: span } = await traceOf(cancelledCaller.traceId);
    expect(span).toMatchObject({ status: { code: ERROR }, attributes: { "error.type": "cancelled" } });
    // A run that never finished reports no phases.
    expect(spans.filter((child) => child.parentSpanId === span.spanId)).toEqual([]);
  });

  it("spans not yet exported when the backend stops are flushed as it shuts down", async () => {
    const caller = callerSpan();
    const response = await chat(server, { max_tokens: 2 }, { traceparent: caller.traceparent });
    expect(response.status).toBe(200);
    await server.stop();
    expect(receiver.spans.filter((span) => span.traceId === caller.traceId).map((span) => span.name)).toContain(
      serverSpanName,
    );
  });
});

describe("without an OTLP endpoint", () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(["--model", fixture, "--threads", "1"], {
      MOXIE_BACKEND_SECRET: secret,
      OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      OTEL_BSP_SCHEDULE_DELAY: String(exportDelayMs),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("nothing is traced: requests with or without a traceparent get no traceparent back, nothing is exported, nothing is logged", async () => {
    const exported = receiver.spans.length;
    const headers: Record<string, string>[] = [
      { traceparent: callerSpan().traceparent },
      { traceparent: "garbage" },
      {},
    ];
    for (const header of headers) {
      const response = await chat(server, { max_tokens: 2 }, header);
      expect(response.status).toBe(200);
      expect(response.headers.get("traceparent")).toBeNull();
      await response.json();
    }
    await server.stop();
    expect(receiver.spans.length).toBe(exported);
    expect(server.stderr()).toBe("");
  });
});
