import type { Context } from "hono";
import type * as z from "zod";
import { PROMPT_TOKENS_HEADER, type UsageInfo } from "../../protocol/index.ts";
import type { ApiKeyRecord } from "../auth/key-record.ts";
import { errorResponse } from "../../protocol/http/error-response.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { fallbackChain } from "../models/fallbacks.ts";
import { loadCatalog, resolveModel } from "../models/model-catalog.ts";
import { costOf, type ModelDefinition } from "../models/model-definition.ts";
import { asServed, loadServedContexts } from "../models/served-context.ts";
import { withDefaultConcurrency } from "../ratelimit/default-concurrency.ts";
import { rateLimitHeaders, roundMoney } from "../ratelimit/headers.ts";
import { keyLimiter } from "../ratelimit/key-limiter.ts";
import { noteRefusal, recentlyRefused } from "../ratelimit/recent-refusals.ts";
import type { Decision, LimitSnapshot, RefusalReason } from "../ratelimit/usage-window.ts";
import { estimatePromptTokens } from "../ratelimit/token-estimate.ts";
import { readBody } from "../../protocol/http/read-body.ts";
import { backendPool, type Outcome, type PickedBackend, type PickResult } from "../routing/backend-pool.ts";
import { readBounded } from "../bounded-read.ts";
import { relaySse } from "./sse-relay.ts";
import { sendUpstream } from "./upstream.ts";
import { recordUsage } from "./usage-record.ts";
import { UsageScan } from "./usage-scan.ts";

/** What differs between the inference routes; everything else is the one pipeline below. */
export interface InferenceRoute<S extends z.ZodType<{ model: string }>> {
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

/** The response header naming the public model that answered (another than asked when a fallback did). */
export const ANSWERING_MODEL_HEADER = "x-moxie-model";

/**
 * The largest non-streamed answer the gateway buffers (n = 16 with top_logprobs can pass 25 MB);
 * a stream is passed on unbuffered, whatever its length.
 */
export const MAX_BUFFERED_ANSWER_BYTES = 8 * 1024 * 1024;

/** The most of a backend's error body read to decide on a fallback. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The most of a client's model name an error message echoes. */
const MAX_ECHOED_NAME = 64;

/**
 * request → validation → model → permission → limits → routing → proxy (→ fallbacks) → settlement and usage.
 * A client that disconnects cancels the runtime's wait for the response, and with it whatever the
 * handler awaits at that moment: held by waitUntil, the pipeline instead runs to its end, so an
 * admitted request is always settled.
 */
export function serveInference<S extends z.ZodType<{ model: string }>>(
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

async function handle<S extends z.ZodType<{ model: string }>>(
  c: Context<GatewayEnv>,
  route: InferenceRoute<S>,
): Promise<Response> {
  const started = Date.now();
  const parsed = await readBody(c, route.schema);
  if ("response" in parsed) return parsed.response;
  const { body, data: request } = parsed;

  const key = c.var.apiKey;
  const catalog = await loadCatalog(c.env);
  const catalogModel = resolveModel(catalog, request.model);
  if (!catalogModel || catalogModel.type !== route.modelType) {
    const message = `Model '${echoed(request.model)}' not found for ${route.path}`;
    return errorResponse(c, 404, message, "invalid_request_error", { code: "model_not_found" });
  }
  // A key allowed a model by any of its names may use it by any other.
  if (key.allowed_models && !key.allowed_models.some((name) => resolveModel(catalog, name)?.id === catalogModel.id)) {
    return errorResponse(c, 403, `This API key may not use model '${echoed(request.model)}'`, "permission_error", {
      code: "model_not_allowed",
    });
  }
  // max_tokens is checked against, and tokens reserved for, the context the backends actually serve.
  const model = asServed(catalogModel, await loadServedContexts(c.env, catalogModel.deployment));

  const completion = route.completion(request);
  // Like Mistral's API: max_tokens beyond the context is an error, not silently clamped (the backend checks prompt + max_tokens).
  if (completion.maxTokens !== null && completion.maxTokens > model.max_context_length) {
    const message = `max_tokens is ${completion.maxTokens}, more than the ${model.max_context_length}-token context of model '${request.model}' (prompt + max_tokens must fit in it)`;
    return errorResponse(c, 400, message, "invalid_request_error", {
      code: "context_length_exceeded",
      param: "max_tokens",
    });
  }
  const promptEstimate = estimatePromptTokens(route.promptTexts(request));
  const pool = backendPool(c.env);
  const affinityKey = await route.affinityKey(request, key);
  // The key's limiter and the pool are independent objects, so both are asked at once (one round
  // trip instead of two) unless the key was just refused. Only the limiter admits: nothing is
  // forwarded before it has, and a refused request gives its pick back.
  const pickBackend = () => pool.pick(model.deployment, affinityKey, []);
  const earlyPick = recentlyRefused(key.id) ? null : pickBackend();
  const givePickBack = () => {
    if (earlyPick)
      c.executionCtx.waitUntil(
        earlyPick.then((pick) => (pick.backend ? pool.finish(pick.backend, "cancelled") : undefined)).catch(() => {}),
      );
  };
  const limiter = keyLimiter(c.env, key.id);
  const limits = withDefaultConcurrency(key.limits, c.env);
  let decision: Decision;
  try {
    decision = await limiter.reserve(
      limits,
      { prompt: promptEstimate, ...completion, context: model.max_context_length },
      model,
    );
  } catch (error) {
    givePickBack();
    throw error;
  }
  if (!decision.admitted) {
    givePickBack();
    if (decision.reason === "revoked")
      return errorResponse(c, 401, "Invalid or revoked API key", "authentication_error", { code: "invalid_api_key" });
    if (decision.retryAfterSeconds === null)
      return errorResponse(c, 400, exceededMessage(decision.reason, decision.snapshot), "invalid_request_error", {
        headers: rateLimitHeaders(decision.snapshot),
        code: "exceeds_key_limit",
        param: "max_tokens",
      });
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
  // The backend request ends when the client goes (even before this line: a signal already aborted
  // counts) or when the gateway gives up on it (abort).
  const abort = new AbortController();
  const signal = AbortSignal.any([c.req.raw.signal, abort.signal]);
  const streams = route.streams(request);
  /** The model whose backend answered: the one asked for, or a fallback. */
  let answering = model;
  /** Settles the key's reservation, releases the backend's pick and writes the usage row: once per admitted request. */
  const settle = async (
    status: number,
    answered: { backend: PickedBackend; outcome: Outcome } | null,
    usage: UsageInfo | null,
  ) => {
    const promptTokens = usage?.prompt_tokens ?? 0;
    const completionTokens = usage?.completion_tokens ?? 0;
    // Usage is charged at the price of the model that answered.
    const cost = costOf(answering, promptTokens, completionTokens);
    // Three independent books: one that fails to update must not keep the others from it.
    const results = await Promise.allSettled([
      limiter.settle(decision.reservation, usage?.total_tokens ?? 0, limits, cost),
      answered ? pool.finish(answered.backend, answered.outcome) : undefined,
      recordUsage(c.env.DB, {
        requestId,
        clientRequestId: c.var.clientRequestId,
        keyId: key.id,
        // Nobody answered a 503: it counts against the model asked for, not the last fallback tried.
        model: answered ? answering.id : model.id,
        backendId: answered?.backend.id ?? null,
        promptTokens,
        completionTokens,
        cost,
        status,
        latencyMs: Date.now() - started,
      }),
    ]);
    for (const result of results)
      if (result.status === "rejected")
        console.error(JSON.stringify({ request_id: requestId, error: `settlement failed: ${String(result.reason)}` }));
  };
  const send = async (target: ModelDefinition, pick: Promise<PickResult>) =>
    sendUpstream(c.env, pool, pick, {
      deployment: target.deployment,
      affinityKey,
      path: route.path,
      body: await route.upstreamBody(body as Record<string, unknown>, request, target, decision.maxTokens, key),
      requestId,
      tenant: key.id,
      signal,
      deadlineMs: 1000 * Number(streams ? c.env.UPSTREAM_IDLE_SECONDS : c.env.UPSTREAM_TIMEOUT_SECONDS),
      streams,
    });
  let upstream: Awaited<ReturnType<typeof sendUpstream>>;
  try {
    upstream = await send(model, firstPick);
    for (const fallback of fallbackChain(catalog, catalogModel)) {
      if (!(await needsFallback(upstream, answering))) break;
      if (upstream.response) {
        // The backend was right to refuse a prompt too long for it: it stays in good standing.
        await upstream.response.body?.cancel();
        await pool.finish(upstream.backend, "success");
      }
      answering = asServed(fallback, await loadServedContexts(c.env, fallback.deployment));
      upstream = await send(answering, pool.pick(answering.deployment, affinityKey, []));
    }
  } catch {
    // Only a client disconnect gets here: nobody is left to answer.
    c.executionCtx.waitUntil(settle(499, null, null));
    return new Response(null, { status: 499 });
  }
  const finish = (status: number, outcome: Outcome | null, usage: UsageInfo | null) =>
    settle(status, upstream.response && outcome ? { backend: upstream.backend, outcome } : null, usage);

  if (!upstream.response) {
    c.executionCtx.waitUntil(finish(503, null, null));
    // Which backend failed and how is the operator's business: logged, not told to the client.
    if (upstream.lastError) console.error(JSON.stringify({ request_id: requestId, error: upstream.lastError }));
    const reason = upstream.lastError
      ? "no backend could take the request"
      : `no healthy backend serves '${request.model}'`;
    return errorResponse(c, 503, `Service unavailable: ${reason}`, "service_unavailable", {
      headers: { ...limitHeaders, "retry-after": String(upstream.retryAfterSeconds) },
    });
  }
  const { response } = upstream;
  const answeredAs = answering === model ? request.model : answering.id;
  const answeredHeaders = { ...limitHeaders, [ANSWERING_MODEL_HEADER]: answeredAs };

  if (!response.ok) {
    // The backend's verdict on this request (a 4xx, or a 500 the request caused): passed on, and no
    // mark against the backend; a 4xx even shows it in good health.
    c.executionCtx.waitUntil(finish(response.status, response.status < 500 ? "success" : "cancelled", null));
    return new Response(response.body, {
      status: response.status,
      headers: { ...answeredHeaders, "content-type": response.headers.get("content-type") ?? "application/json" },
    });
  }

  if (streams && response.headers.get("content-type")?.startsWith("text/event-stream") && response.body) {
    const relay = relaySse(response.body, {
      publicModel: answeredAs,
      clientAskedForUsage: route.asksForUsageChunk(request),
      abortUpstream: () => abort.abort(),
      clientGone: c.req.raw.signal,
      idleMs: 1000 * Number(c.env.UPSTREAM_IDLE_SECONDS),
    });
    c.executionCtx.waitUntil(
      relay.finished.then(({ outcome, usage, contentEvents }) => {
        const [status, poolOutcome] = streamEnding[outcome];
        // A stream cut short has no usage chunk, yet the backend did the work: charge the prompt it
        // reported (else the estimate, an upper bound) and the tokens sent. A backend that failed
        // before sending any content (it died with the request queued or prefilling) answered
        // nothing, and a failed request is not billed. A client that leaves still pays its prompt.
        const prompt = Number(response.headers.get(PROMPT_TOKENS_HEADER) ?? Number.NaN);
        const reported = Number.isInteger(prompt) && prompt >= 0 ? prompt : promptEstimate;
        const promptTokens = outcome === "upstream_failed" && contentEvents === 0 ? 0 : reported;
        const charged = usage ?? {
          prompt_tokens: promptTokens,
          completion_tokens: contentEvents,
          total_tokens: promptTokens + contentEvents,
        };
        return finish(status, poolOutcome, charged);
      }),
    );
    return new Response(relay.body, {
      headers: { ...answeredHeaders, "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  }

  let result: { model?: string; usage?: UsageInfo };
  const scan = new UsageScan();
  try {
    const text = await readBounded(response.body, MAX_BUFFERED_ANSWER_BYTES, (piece) => scan.feed(piece));
    if (text === null) {
      // The backend did generate it: the key is charged its usage, read on the way past. A 4xx, not a
      // 502: the request asked for this size and would fail again unchanged, and SDKs retry a 5xx on
      // their own, generating (and charging) it again; 413 names the problem, the message its fix.
      c.executionCtx.waitUntil(finish(413, "success", scan.usage));
      const message = `The answer is larger than the ${MAX_BUFFERED_ANSWER_BYTES / 1024 / 1024} MiB the gateway passes on unstreamed: stream it (stream: true) or ask for less (n, max_tokens, top_logprobs)`;
      return errorResponse(c, 413, message, "invalid_request_error", {
        headers: answeredHeaders,
        code: "response_too_large",
      });
    }
    result = JSON.parse(text);
  } catch (error) {
    if (signal.aborted) {
      // The client left while the answer was read: no verdict on the backend.
      c.executionCtx.waitUntil(finish(499, "cancelled", null));
      return new Response(null, { status: 499 });
    }
    c.executionCtx.waitUntil(finish(502, "failure", null));
    console.error(
      JSON.stringify({
        request_id: requestId,
        error: `backend ${upstream.backend.id} broke off: ${error instanceof Error ? error.message : String(error)}`,
      }),
    );
    return errorResponse(c, 502, "The backend's response broke off", "upstream_error", { headers: answeredHeaders });
  }
  result.model = answeredAs;
  const usage = result.usage ?? null;
  c.executionCtx.waitUntil(finish(200, "success", usage));
  return c.json(result, 200, {
    ...(usage ? rateLimitHeaders(decision.snapshot, usage.total_tokens) : limitHeaders),
    [ANSWERING_MODEL_HEADER]: answeredAs,
  });
}

/**
 * Whether the next fallback should be tried: no backend of the model answered before the first
 * byte, or (when the model asks for it) its backend refused the prompt as too long for its context:
 * moxie serve's and Mistral's code context_length_exceeded, or vLLM's "maximum context length" message.
 */
async function needsFallback(
  upstream: Awaited<ReturnType<typeof sendUpstream>>,
  model: ModelDefinition,
): Promise<boolean> {
  if (!upstream.response) return true;
  if (!model.fallback_on_context_overflow || upstream.response.status !== 400) return false;
  // Read from a copy (the answer itself may still be passed on), and only so much of it.
  const text = await readBounded(upstream.response.clone().body, MAX_ERROR_BODY_BYTES).catch(() => null);
  const error = parseJson(text) as { code?: unknown; message?: unknown } | null;
  return (
    error?.code === "context_length_exceeded" ||
    (typeof error?.message === "string" && /maximum context length/i.test(error.message))
  );
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

function parseJson(text: string | null): unknown {
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

/** A client's model name as error messages echo it: cut short, so a huge name does not come back whole. */
function echoed(name: string): string {
  return name.length > MAX_ECHOED_NAME ? `${name.slice(0, MAX_ECHOED_NAME)}…` : name;
}

/** Why a request larger than one of its key's limits is refused for good, with the numbers. */
function exceededMessage(reason: RefusalReason, snapshot: LimitSnapshot): string {
  const fix =
    "lower max_tokens or n (an unset max_tokens counts as the whole context after the prompt), or shorten the prompt";
  const { tpm, monthly_token_budget } = snapshot.limits;
  const tokens = `This request may use up to ${snapshot.cost} tokens (the prompt's upper bound plus n × max_tokens)`;
  switch (reason) {
    case "tokens":
      return `${tokens}, more than this API key's limit of ${tpm} tokens per minute: ${fix}`;
    case "budget":
      return `${tokens}, more than this API key's monthly token budget of ${monthly_token_budget}: ${fix}`;
    default: {
      const budget = snapshot.budget;
      return `This request may cost up to ${roundMoney(budget?.cost ?? 0)} (the prompt's upper bound plus n × max_tokens at the model's prices), more than this API key's whole budget of ${budget?.limit} per ${budget?.period ?? "lifetime"}: ${fix}`;
    }
  }
}
