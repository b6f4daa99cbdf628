import type { Context } from "hono";
import type * as z from "zod";
import { readBody } from "../../protocol/http/read-body.ts";
import type { ApiKeyRecord } from "../auth/key-record.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import type { ModelDefinition } from "../models/model-definition.ts";
import { admit } from "./admission.ts";
import { forwardWithFallbacks } from "./fallback.ts";
import { respond } from "./respond.ts";

/** The schema of an inference route's request: every one names a model. */
export type RouteSchema = z.ZodType<{ model: string }>;

/** What differs between the inference routes; everything else is the one pipeline below. */
export interface InferenceRoute<S extends RouteSchema> {
  path: string;
  schema: S;
  modelType: ModelDefinition["type"];
  promptTexts(request: z.output<S>): string[];
  /** Choices the request generates and the max_tokens it sets for each (null: up to the context). */
  completion(request: z.output<S>): { choices: number; maxTokens: number | null };
  /** Routing affinity for backends with a warm KV cache; null = least loaded only. */
  affinityKey(request: z.output<S>, key: ApiKeyRecord): Promise<string | null>;
  /** The body sent to the backend: the client's own body, with the deployment name, the max_tokens admitted and the key's cache salt. */
  upstreamBody(
    body: Record<string, unknown>,
    request: z.output<S>,
    model: ModelDefinition,
    maxTokens: number | null,
    key: ApiKeyRecord,
  ): Promise<Record<string, unknown>>;
  streams(request: z.output<S>): boolean;
  /** Whether a streaming client asked for OpenAI's usage-only chunk at the end (else it gets usage on the finish chunk only). */
  asksForUsageChunk(request: z.output<S>): boolean;
}

/**
 * request → validation → model → permission → limits → routing → proxy (→ fallbacks) → settlement and usage.
 * A client that disconnects cancels the runtime's wait for the response, and with it whatever the
 * handler awaits at that moment: held by waitUntil, the pipeline instead runs to its end, so an
 * admitted request is always settled.
 */
export function serveInference<S extends RouteSchema>(
  c: Context<GatewayEnv>,
  route: InferenceRoute<S>,
): Promise<Response> {
  const handled = handle(c, route);
  c.executionCtx.waitUntil(
    handled.then(
      () => undefined,
      () => undefined,
    ),
  );
  return handled;
}

async function handle<S extends RouteSchema>(c: Context<GatewayEnv>, route: InferenceRoute<S>): Promise<Response> {
  const started = Date.now();
  const parsed = await readBody(c, route.schema);
  if ("response" in parsed) return parsed.response;
  const admission = await admit(c, route, parsed, started);
  if (admission instanceof Response) return admission;
  // How the gateway itself gives up on the backend request (the relay does, on a stream it ends).
  const gatewayAbort = new AbortController();
  const forwarded = await forwardWithFallbacks(c, route, admission, gatewayAbort.signal);
  const { response, settlement } = await respond(c, route, admission, forwarded, gatewayAbort);
  // Every way of answering yields one settlement: each admitted request is settled exactly once.
  c.executionCtx.waitUntil(Promise.resolve(settlement).then(admission.settle));
  return response;
}
