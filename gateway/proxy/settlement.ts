import type { Context } from "hono";
import type { UsageInfo } from "../../protocol/index.ts";
import type { KeyLimits } from "../auth/key-record.ts";
import { gatewayConfig } from "../config.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import type { LoggedRequest } from "../logs/logged-request.ts";
import { logStatements } from "../logs/request-log.ts";
import { analyticsPoint } from "../metrics/analytics-point.ts";
import { gatewayMetrics } from "../metrics/gateway-metrics.ts";
import { costOf, type ModelDefinition } from "../models/model-definition.ts";
import type { KeyLimiter } from "../ratelimit/key-limiter.ts";
import type { BackendPool, Outcome, PickedBackend } from "../routing/backend-pool.ts";
import { exportSpan } from "../tracing/span-export.ts";
import { usageStatement } from "./usage-record.ts";

/** How an admitted request ended. */
export interface Settlement {
  /** The status the usage row records. */
  status: number;
  /** The backend that answered, the model it served and how it went; null when none answered. */
  answer: { backend: PickedBackend; model: ModelDefinition; outcome: Outcome } | null;
  usage: UsageInfo | null;
  /** What the request log adds about the answer. */
  detail: AnswerDetail;
}

export interface AnswerDetail {
  /** The error body's code (the gateway's, or the backend's passed on). */
  errorCode: string | null;
  finishReason: string | null;
  /** When the first content went to the client (streams). */
  firstContentAt: number | null;
  /** What the client was sent, when the key logs bodies. */
  responseBody: string | null;
}

export const NO_DETAIL: AnswerDetail = {
  errorCode: null,
  finishReason: null,
  firstContentAt: null,
  responseBody: null,
};

/** Counted as forwarding goes: backends tried and fallback models moved to. */
export interface ForwardingTrail {
  attempts: number;
  fallbacks: number;
}

/** What an admitted request is settled against. */
interface Books {
  /** The model asked for, and the name the client asked by. */
  asked: ModelDefinition;
  askedAs: string;
  streams: boolean;
  pool: DurableObjectStub<BackendPool>;
  limiter: DurableObjectStub<KeyLimiter>;
  /** The limits the key was held to, which settlement holds it to again. */
  limits: KeyLimits;
  /** The limiter's reservation for the request. */
  reservation: string;
  /** When the request arrived. */
  started: number;
  trail: ForwardingTrail;
  /** The client's body, when its key logs bodies. */
  requestBody: string | null;
}

/**
 * An admission's settle: it settles the key's reservation, releases the backend's pick, writes the
 * usage row and the request log's row in one batch, counts the request in the metrics and exports
 * the gateway's span.
 */
export function settler(c: Context<GatewayEnv>, books: Books): (settlement: Settlement) => Promise<void> {
  const { asked, pool, limiter, limits, reservation, started } = books;
  const config = gatewayConfig(c.env);
  return async (settlement) => {
    const { status, answer, usage } = settlement;
    // Usage is charged at the price of the model that answered; nobody answered a 503: it counts
    // against the model asked for, not the last fallback tried.
    const model = answer?.model ?? asked;
    const cost = costOf(model, usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0);
    const logged = loggedRequest(c, books, settlement, cost);
    const db = c.env.DB;
    const usageRow = usageStatement(db, {
      requestId: logged.request_id,
      clientRequestId: logged.client_request_id,
      keyId: logged.key_id,
      model: model.id,
      backendId: logged.backend_id,
      promptTokens: logged.prompt_tokens,
      completionTokens: logged.completion_tokens,
      cost,
      status,
      latencyMs: logged.duration_ms,
    });
    // Fire and forget, as the runtime intends it: it never fails the request.
    c.env.REQUEST_ANALYTICS.writeDataPoint(analyticsPoint(logged));
    const bodies =
      books.requestBody === null
        ? null
        : { request_body: books.requestBody, response_body: settlement.detail.responseBody };
    // Independent books: one that fails to update must not keep the others from it.
    const results = await Promise.allSettled([
      limiter.settle(reservation, usage?.total_tokens ?? 0, limits, cost),
      answer ? pool.finish(answer.backend, answer.outcome) : undefined,
      db.batch([usageRow, ...(config.requestLog ? logStatements(db, logged, bodies, config.requestLog) : [])]),
      gatewayMetrics(c.env).observe(logged),
      config.otlpTracesUrl
        ? exportSpan(config.otlpTracesUrl, c.var.trace, logged, started + logged.duration_ms)
        : undefined,
    ]);
    for (const result of results)
      if (result.status === "rejected")
        console.error(
          JSON.stringify({ request_id: logged.request_id, error: `settlement failed: ${String(result.reason)}` }),
        );
  };
}

function loggedRequest(
  c: Context<GatewayEnv>,
  { askedAs, streams, started, trail }: Books,
  { status, answer, usage, detail }: Settlement,
  cost: number,
): LoggedRequest {
  const country = (c.req.raw.cf as { country?: unknown } | undefined)?.country;
  return {
    request_id: c.var.requestId,
    client_request_id: c.var.clientRequestId,
    created_at: new Date(started).toISOString(),
    key_id: c.var.apiKey.id,
    endpoint: c.req.path,
    model_asked: askedAs,
    model_answered: answer?.model.id ?? null,
    backend_id: answer?.backend.id ?? null,
    status,
    error_code: detail.errorCode,
    stream: streams,
    prompt_tokens: usage?.prompt_tokens ?? 0,
    completion_tokens: usage?.completion_tokens ?? 0,
    cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? null,
    cost,
    ttft_ms: detail.firstContentAt === null ? null : detail.firstContentAt - started,
    duration_ms: Date.now() - started,
    finish_reason: detail.finishReason,
    attempts: trail.attempts,
    fallbacks: trail.fallbacks,
    country: typeof country === "string" ? country : null,
    trace_id: c.var.trace.traceId,
  };
}
