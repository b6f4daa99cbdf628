import type { Context } from "hono";
import type * as z from "zod";
import { answerError, apiErrors } from "../api-errors.ts";
import type { ApiKeyRecord, KeyLimits } from "../auth/key-record.ts";
import { gatewayConfig } from "../config.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { fallbackChain } from "../models/fallbacks.ts";
import { loadCatalog, resolveModel } from "../models/model-catalog.ts";
import type { ModelDefinition } from "../models/model-definition.ts";
import { asServed, loadServedContexts } from "../models/served-context.ts";
import { withDefaultConcurrency } from "../ratelimit/default-concurrency.ts";
import { rateLimitHeaders } from "../ratelimit/headers.ts";
import { keyLimiter } from "../ratelimit/key-limiter.ts";
import { noteRefusal, recentlyRefused } from "../ratelimit/recent-refusals.ts";
import { estimatePromptTokens } from "../ratelimit/token-estimate.ts";
import type { Decision, LimitSnapshot, TokenAsk } from "../ratelimit/usage-window.ts";
import { backendPool, type BackendPool, type PickResult } from "../routing/backend-pool.ts";
import type { InferenceRoute, RouteSchema } from "./serve-inference.ts";
import { MAX_LOGGED_BODY_CHARS } from "../logs/logged-request.ts";
import { settler, type ForwardingTrail, type Settlement } from "./settlement.ts";

/** A request the gateway took on: what forwarding and answering it need, and its one settlement. */
export interface Admission<S extends RouteSchema> {
  request: z.output<S>;
  /** The body as the client sent it. */
  body: Record<string, unknown>;
  key: ApiKeyRecord;
  /** The model asked for, as its backends serve it. */
  model: ModelDefinition;
  /** The models to try after it, in order (see fallbackChain). */
  fallbacks: ModelDefinition[];
  pool: DurableObjectStub<BackendPool>;
  affinityKey: string | null;
  /** The pool's first pick, asked for while the key's limiter decided. */
  firstPick: Promise<PickResult>;
  /** An upper bound on the prompt's tokens. */
  promptEstimate: number;
  /** The max_tokens admitted: the client's, or the cap its key's limits set on an unset one. */
  maxTokens: number | null;
  /** The key's limits as the reservation left them, for the rate-limit headers. */
  snapshot: LimitSnapshot;
  /** Backends tried and fallbacks moved to, counted as forwarding goes. */
  trail: ForwardingTrail;
  /** Settles the key's reservation, releases the backend's pick and writes the usage and log rows: once per admitted request. */
  settle: (settlement: Settlement) => Promise<void>;
}

/**
 * model → permission → max_tokens → the key's limits, with the pool's first pick asked for
 * meanwhile: the admitted request, or the answer that refuses it.
 */
export async function admit<S extends RouteSchema>(
  c: Context<GatewayEnv>,
  route: InferenceRoute<S>,
  { body, data: request }: { body: unknown; data: z.output<S> },
  started: number,
): Promise<Admission<S> | Response> {
  const key = c.var.apiKey;
  const catalog = await loadCatalog(c.env);
  const catalogModel = resolveModel(catalog, request.model);
  if (!catalogModel || catalogModel.type !== route.modelType)
    return answerError(c, apiErrors.modelNotFound(request.model, route.path));
  // A key allowed a model by any of its names may use it by any other.
  if (key.allowed_models && !key.allowed_models.some((name) => resolveModel(catalog, name)?.id === catalogModel.id))
    return answerError(c, apiErrors.modelNotAllowed(request.model));
  // max_tokens is checked against, and tokens reserved for, the context the backends actually serve.
  const model = asServed(catalogModel, await loadServedContexts(c.env, catalogModel.deployment));
  const completion = route.completion(request);
  // Like Mistral's API: max_tokens beyond the context is an error, not silently clamped (the backend checks prompt + max_tokens).
  if (completion.maxTokens !== null && completion.maxTokens > model.max_context_length)
    return answerError(
      c,
      apiErrors.maxTokensOverContext(completion.maxTokens, model.max_context_length, request.model),
    );
  const promptEstimate = estimatePromptTokens(route.promptTexts(request));
  const affinityKey = await route.affinityKey(request, key);
  const ask = { prompt: promptEstimate, ...completion, context: model.max_context_length };
  const reserved = await reserve(c, model, ask, affinityKey);
  if (reserved instanceof Response) return reserved;
  const { pool, limiter, limits, decision } = reserved;
  c.set("admitted", true);
  const trail = { attempts: 0, fallbacks: 0 };
  return {
    request,
    body: body as Record<string, unknown>,
    key,
    model,
    fallbacks: fallbackChain(catalog, catalogModel),
    pool,
    affinityKey,
    firstPick: reserved.firstPick,
    promptEstimate,
    maxTokens: decision.maxTokens,
    snapshot: decision.snapshot,
    trail,
    settle: settler(c, {
      asked: model,
      askedAs: request.model,
      streams: route.streams(request),
      pool,
      limiter,
      limits,
      reservation: decision.reservation,
      started,
      trail,
      requestBody: key.log_bodies ? JSON.stringify(body).slice(0, MAX_LOGGED_BODY_CHARS) : null,
    }),
  };
}

type Admitted = Extract<Decision, { admitted: true }>;

/** The key's reservation, and the pool's first pick for the request. */
interface Reservation {
  pool: DurableObjectStub<BackendPool>;
  firstPick: Promise<PickResult>;
  limiter: ReturnType<typeof keyLimiter>;
  limits: KeyLimits;
  decision: Admitted;
}

/**
 * The key's limiter and the pool are independent objects, so both are asked at once (one round
 * trip instead of two) unless the key was just refused. Only the limiter admits: nothing is
 * forwarded before it has, and a refused request gives its pick back.
 */
async function reserve(
  c: Context<GatewayEnv>,
  model: ModelDefinition,
  ask: TokenAsk,
  affinityKey: string | null,
): Promise<Reservation | Response> {
  const key = c.var.apiKey;
  const pool = backendPool(c.env);
  const pickBackend = () => pool.pick(model.deployment, affinityKey, []);
  const earlyPick = recentlyRefused(key.id) ? null : pickBackend();
  const givePickBack = () => {
    if (earlyPick)
      c.executionCtx.waitUntil(
        earlyPick.then((pick) => (pick.backend ? pool.finish(pick.backend, "cancelled") : undefined)).catch(() => {}),
      );
  };
  const limiter = keyLimiter(c.env, key.id);
  const limits = withDefaultConcurrency(key.limits, gatewayConfig(c.env).defaultKeyConcurrency);
  let decision: Decision;
  try {
    decision = await limiter.reserve(limits, ask, model);
  } catch (error) {
    givePickBack();
    throw error;
  }
  if (!decision.admitted) {
    givePickBack();
    return refusal(c, decision);
  }
  return { pool, firstPick: earlyPick ?? pickBackend(), limiter, limits, decision };
}

/** The answer to a request the key's limiter refused. */
function refusal(c: Context<GatewayEnv>, decision: Exclude<Decision, Admitted>): Response {
  if (decision.reason === "revoked") return answerError(c, apiErrors.invalidApiKey());
  const headers = rateLimitHeaders(decision.snapshot);
  if (decision.retryAfterSeconds === null)
    return answerError(c, apiErrors.exceedsKeyLimit(decision.reason, decision.snapshot), headers);
  noteRefusal(c.var.apiKey.id, decision.retryAfterSeconds);
  return answerError(c, apiErrors.rateLimited(decision.reason), {
    ...headers,
    "retry-after": String(decision.retryAfterSeconds),
  });
}
