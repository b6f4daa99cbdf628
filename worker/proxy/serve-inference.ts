import type { Context } from "hono";
import type * as z from "zod";
import type { UsageInfo } from "../../protocol/index.ts";
import type { ApiKeyRecord } from "../auth/key-record.ts";
import { errorResponse } from "../../protocol/hono/error-response.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { fallbackChain } from "../models/fallbacks.ts";
import { loadCatalog, resolveModel } from "../models/model-catalog.ts";
import { costOf, type ModelDefinition } from "../models/model-definition.ts";
import { asServed, loadServedContexts } from "../models/served-context.ts";
import { rateLimitHeaders } from "../ratelimit/headers.ts";
import { keyLimiter } from "../ratelimit/key-limiter.ts";
import { noteRefusal, recentlyRefused } from "../ratelimit/recent-refusals.ts";
import type { Decision } from "../ratelimit/usage-window.ts";
import { estimatePromptTokens } from "../ratelimit/token-estimate.ts";
import { readBody } from "../../protocol/hono/read-body.ts";
import { backendPool, type Outcome, type PickResult } from "../routing/backend-pool.ts";
import { relaySse } from "./sse-relay.ts";
import { sendUpstream } from "./upstream.ts";
import { recordUsage } from "./usage-record.ts";

/** What differs between the inference routes; everything else is the one pipeline below. */
export interface InferenceRoute<S extends z.ZodType<{ model: string }>> {
  path: string;
  schema: S;
  modelType: ModelDefinition["type"];
  promptTexts(request: z.output<S>): string[];
  /** Completion tokens to reserve for the request. */
  completionReservation(request: z.output<S>, model: ModelDefinition): number;
  /** Routing affinity for backends with a warm KV cache; null = least loaded only. */
  affinityKey(request: z.output<S>, key: ApiKeyRecord): Promise<string | null>;
  /** The body sent to the backend: the client's own body, with the deployment name and capped values. */
  upstreamBody(body: Record<string, unknown>, request: z.output<S>, model: ModelDefinition): Record<string, unknown>;
  streams(request: z.output<S>): boolean;
  /** Whether a streaming client asked for OpenAI's usage-only chunk at the end (else it gets usage on the finish chunk only). */
  asksForUsageChunk(request: z.output<S>): boolean;
}

/** The response header naming the public model that answered (another than asked when a fallback did). */
export const ANSWERING_MODEL_HEADER = "x-moxie-model";

/** request → validation → model → permission → limits → routing → proxy (→ fallbacks) → settlement and usage. */
export async function serveInference<S extends z.ZodType<{ model: string }>>(c: Context<GatewayEnv>, route: InferenceRoute<S>): Promise<Response> {
  const started = Date.now();
  const parsed = await readBody(c, route.schema);
  if ("response" in parsed) return parsed.response;
  const { body, data: request } = parsed;

  const key = c.var.apiKey;
  const catalog = await loadCatalog(c.env);
  const catalogModel = resolveModel(catalog, request.model);
  if (!catalogModel || catalogModel.type !== route.modelType) {
    return errorResponse(c, 404, `Model '${request.model}' not found for ${route.path}`, "invalid_request_error", { code: "model_not_found" });
  }
  if (key.allowed_models && !key.allowed_models.includes(catalogModel.id) && !key.allowed_models.includes(request.model)) {
    return errorResponse(c, 403, `This API key may not use model '${request.model}'`, "permission_error", { code: "model_not_allowed" });
  }
  // max_tokens is capped to, and tokens reserved for, the context the backends actually serve.
  const model = asServed(catalogModel, await loadServedContexts(c.env, catalogModel.deployment));

  const promptEstimate = estimatePromptTokens(route.promptTexts(request));
  const pool = backendPool(c.env);
  const affinityKey = await route.affinityKey(request, key);
  // The key's limiter and the pool are independent objects, so both are asked at once (one round
  // trip instead of two) unless the key was just refused. Only the limiter admits: nothing is
  // forwarded before it has, and a refused request gives its pick back.
  const pickBackend = () => pool.pick(model.deployment, affinityKey, []);
  const earlyPick = recentlyRefused(key.id) ? null : pickBackend();
  const givePickBack = () => {
    if (earlyPick) c.executionCtx.waitUntil(earlyPick.then((pick) => (pick.backend ? pool.finish(pick.backend.id, "cancelled") : undefined)).catch(() => {}));
  };
  const limiter = keyLimiter(c.env, key.id);
  let decision: Decision;
  try {
    const completionReservation = route.completionReservation(request, model);
    decision = await limiter.reserve(key.limits, promptEstimate + completionReservation, costOf(model, promptEstimate, completionReservation));
  } catch (error) {
    givePickBack();
    throw error;
  }
  if (!decision.admitted) {
    givePickBack();
    if (decision.reason === "revoked") return errorResponse(c, 401, "Invalid or revoked API key", "authentication_error", { code: "invalid_api_key" });
    noteRefusal(key.id, decision.retryAfterSeconds);
    const headers = { ...rateLimitHeaders(decision.snapshot), "retry-after": String(decision.retryAfterSeconds) };
    return errorResponse(c, 429, refusalMessage[decision.reason], "rate_limited", {
      headers,
      code: decision.reason === "budget" || decision.reason === "spend" ? "budget_exceeded" : "rate_limit_exceeded",
    });
  }
  const firstPick = earlyPick ?? pickBackend();
  const limitHeaders = rateLimitHeaders(decision.snapshot);

  const requestId = c.var.requestId;
  const abort = new AbortController();
  c.req.raw.signal.addEventListener("abort", () => abort.abort());
  const send = (target: ModelDefinition, pick: Promise<PickResult>) =>
    sendUpstream(c.env, pool, pick, {
      deployment: target.deployment,
      affinityKey,
      path: route.path,
      body: route.upstreamBody(body as Record<string, unknown>, request, target),
      requestId,
      signal: abort.signal,
    });
  /** The model whose backend answered: the one asked for, or a fallback. */
  let answering = model;
  let upstream: Awaited<ReturnType<typeof sendUpstream>>;
  try {
    upstream = await send(model, firstPick);
    for (const fallback of fallbackChain(catalog, catalogModel)) {
      if (!(await needsFallback(upstream, answering))) break;
      if (upstream.response) {
        // The backend was right to refuse a prompt too long for it: it stays in good standing.
        await upstream.response.body?.cancel();
        await pool.finish(upstream.backend.id, "success");
      }
      answering = asServed(fallback, await loadServedContexts(c.env, fallback.deployment));
      upstream = await send(answering, pool.pick(answering.deployment, affinityKey, []));
    }
  } catch {
    // Only a client disconnect gets here: nobody is left to answer.
    c.executionCtx.waitUntil(limiter.settle(decision.reservation, 0, key.limits, 0));
    return new Response(null, { status: 499 });
  }
  const answeredAs = answering === model ? request.model : answering.id;

  const finish = async (status: number, outcome: Outcome | null, usage: UsageInfo | null) => {
    const promptTokens = usage?.prompt_tokens ?? 0;
    const completionTokens = usage?.completion_tokens ?? 0;
    const cost = costOf(answering, promptTokens, completionTokens);
    await limiter.settle(decision.reservation, usage?.total_tokens ?? 0, key.limits, cost);
    if (upstream.response && outcome) await pool.finish(upstream.backend.id, outcome);
    await recordUsage(c.env.DB, {
      requestId,
      keyId: key.id,
      // Nobody answered a 503: it counts against the model asked for, not the last fallback tried.
      model: upstream.response ? answering.id : model.id,
      backendId: upstream.response ? upstream.backend.id : null,
      promptTokens,
      completionTokens,
      cost,
      status,
      latencyMs: Date.now() - started,
    });
  };

  if (!upstream.response) {
    c.executionCtx.waitUntil(finish(503, null, null));
    const reason = upstream.lastError ? `all backends failed (${upstream.lastError})` : `no healthy backend serves '${request.model}'`;
    return errorResponse(c, 503, `Service unavailable: ${reason}`, "service_unavailable", {
      headers: { ...limitHeaders, "retry-after": String(upstream.retryAfterSeconds) },
    });
  }
  const { response } = upstream;
  const answeredHeaders = { ...limitHeaders, [ANSWERING_MODEL_HEADER]: answeredAs };

  if (!response.ok) {
    // A 4xx is the request's fault, not the backend's: pass it on and keep the backend in good standing.
    c.executionCtx.waitUntil(finish(response.status, "success", null));
    return new Response(response.body, { status: response.status, headers: { ...answeredHeaders, "content-type": response.headers.get("content-type") ?? "application/json" } });
  }

  if (route.streams(request) && response.headers.get("content-type")?.startsWith("text/event-stream") && response.body) {
    const relay = relaySse(response.body, answeredAs, route.asksForUsageChunk(request), () => abort.abort());
    c.executionCtx.waitUntil(
      relay.finished.then(({ outcome, usage, contentEvents }) => {
        const [status, poolOutcome] = streamEnding[outcome];
        // A stream cut short has no usage chunk, yet the backend did the work: charge what was sent.
        const charged = usage ?? { prompt_tokens: promptEstimate, completion_tokens: contentEvents, total_tokens: promptEstimate + contentEvents };
        return finish(status, poolOutcome, charged);
      }),
    );
    return new Response(relay.body, { headers: { ...answeredHeaders, "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }

  let result: { model?: string; usage?: UsageInfo };
  try {
    result = await response.json();
  } catch (error) {
    c.executionCtx.waitUntil(finish(502, "failure", null));
    return errorResponse(c, 502, `The backend's response broke off: ${error instanceof Error ? error.message : String(error)}`, "upstream_error", { headers: answeredHeaders });
  }
  result.model = answeredAs;
  const usage = result.usage ?? null;
  c.executionCtx.waitUntil(finish(200, "success", usage));
  return c.json(result, 200, { ...(usage ? rateLimitHeaders(decision.snapshot, usage.total_tokens) : limitHeaders), [ANSWERING_MODEL_HEADER]: answeredAs });
}

/**
 * Whether the next fallback should be tried: no backend of the model answered before the first
 * byte, or (when the model asks for it) its backend refused the prompt as too long for its context:
 * moxie serve's and Mistral's code context_length_exceeded, or vLLM's "maximum context length" message.
 */
async function needsFallback(upstream: Awaited<ReturnType<typeof sendUpstream>>, model: ModelDefinition): Promise<boolean> {
  if (!upstream.response) return true;
  if (!model.fallback_on_context_overflow || upstream.response.status !== 400) return false;
  const error = (await upstream.response
    .clone()
    .json()
    .catch(() => null)) as { code?: unknown; message?: unknown } | null;
  return error?.code === "context_length_exceeded" || (typeof error?.message === "string" && /maximum context length/i.test(error.message));
}

/** How each way a stream can end is recorded (usage status) and reported to the pool. */
const streamEnding = {
  complete: [200, "success"],
  client_aborted: [499, "cancelled"],
  upstream_failed: [502, "failure"],
} as const;

const refusalMessage = {
  concurrency: "Too many concurrent requests for this API key",
  requests: "Requests rate limit exceeded",
  tokens: "Tokens per minute rate limit exceeded",
  budget: "Monthly token budget exhausted",
  spend: "Spend budget of this API key exhausted for the current period",
} as const;
