import type { Context } from "hono";
import type { UsageInfo } from "../../protocol/index.ts";
import type { KeyLimits } from "../auth/key-record.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { costOf, type ModelDefinition } from "../models/model-definition.ts";
import type { KeyLimiter } from "../ratelimit/key-limiter.ts";
import type { BackendPool, Outcome, PickedBackend } from "../routing/backend-pool.ts";
import { recordUsage } from "./usage-record.ts";

/** How an admitted request ended. */
export interface Settlement {
  /** The status the usage row records. */
  status: number;
  /** The backend that answered, the model it served and how it went; null when none answered. */
  answer: { backend: PickedBackend; model: ModelDefinition; outcome: Outcome } | null;
  usage: UsageInfo | null;
}

/** What an admitted request is settled against. */
interface Books {
  /** The model asked for. */
  asked: ModelDefinition;
  pool: DurableObjectStub<BackendPool>;
  limiter: DurableObjectStub<KeyLimiter>;
  /** The limits the key was held to, which settlement holds it to again. */
  limits: KeyLimits;
  /** The limiter's reservation for the request. */
  reservation: string;
  /** When the request arrived. */
  started: number;
}

/**
 * An admission's settle: it settles the key's reservation, releases the backend's pick and writes
 * the usage row.
 */
export function settler(
  c: Context<GatewayEnv>,
  { asked, pool, limiter, limits, reservation, started }: Books,
): (settlement: Settlement) => Promise<void> {
  const requestId = c.var.requestId;
  return async ({ status, answer, usage }) => {
    const promptTokens = usage?.prompt_tokens ?? 0;
    const completionTokens = usage?.completion_tokens ?? 0;
    // Usage is charged at the price of the model that answered; nobody answered a 503: it counts
    // against the model asked for, not the last fallback tried.
    const model = answer?.model ?? asked;
    const cost = costOf(model, promptTokens, completionTokens);
    // Three independent books: one that fails to update must not keep the others from it.
    const results = await Promise.allSettled([
      limiter.settle(reservation, usage?.total_tokens ?? 0, limits, cost),
      answer ? pool.finish(answer.backend, answer.outcome) : undefined,
      recordUsage(c.env.DB, {
        requestId,
        clientRequestId: c.var.clientRequestId,
        keyId: c.var.apiKey.id,
        model: model.id,
        backendId: answer?.backend.id ?? null,
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
}
