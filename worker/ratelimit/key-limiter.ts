import { DurableObject } from "cloudflare:workers";
import type { KeyLimits } from "../auth/key-record.ts";
import { costOf, type ModelDefinition } from "../models/model-definition.ts";
import { emptySpend, SpendBudget, type SpendState } from "./spend-budget.ts";
import { emptyWindow, isWindowState, UsageWindow, type Decision, type TokenAsk } from "./usage-window.ts";

const STATE = "window";
const SPEND = "spend";

/**
 * One object per API key, so every location in the world counts against the same window.
 * Decisions are made in memory without awaiting, so concurrent calls are decided strictly one
 * after another; the window is then written to the object's SQLite storage so it survives eviction.
 */
export class KeyLimiter extends DurableObject<Env> {
  private window = new UsageWindow(emptyWindow(Date.now()));
  private spend = new SpendBudget(emptySpend());

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get(STATE);
      if (isWindowState(saved)) this.window = new UsageWindow(saved);
      const spent = await ctx.storage.get<SpendState>(SPEND);
      if (spent) this.spend = new SpendBudget(spent);
    });
  }

  /**
   * Admits a request or says why not: the money budget first (while the period has any left), then
   * the token window; an admitted request reserves the cost of its tokens' upper bound at `pricing`.
   */
  reserve(limits: KeyLimits, ask: TokenAsk, pricing: Pick<ModelDefinition, "price_per_million_tokens">): Decision {
    const now = Date.now();
    const budgetResetsInMs = this.window.data.revoked ? null : this.spend.refusal(limits, now);
    const decision: Decision =
      budgetResetsInMs === null
        ? this.window.reserve(limits, ask, now)
        : {
            admitted: false,
            reason: "spend",
            retryAfterSeconds: Math.max(1, Math.ceil(budgetResetsInMs / 1000)),
            snapshot: this.window.snapshot(limits, ask.prompt),
          };
    if (decision.admitted) {
      const completion = ask.choices * (decision.maxTokens ?? ask.context);
      this.spend.reserve(decision.reservation, costOf(pricing, ask.prompt, completion), limits, now);
      this.saveUnconfirmed();
    }
    decision.snapshot.budget = this.spend.snapshot(limits, now);
    return decision;
  }

  /** Replaces a reservation with what the request used: tokens, and their cost at the answering model's price. */
  settle(reservation: string, actualTokens: number, limits: KeyLimits, actualSpend: number): void {
    const now = Date.now();
    this.window.settle(reservation, actualTokens, now);
    this.spend.settle(reservation, actualSpend, limits, now);
    this.saveUnconfirmed();
  }

  async revoke(): Promise<void> {
    this.window.revoke();
    await this.ctx.storage.put(STATE, this.window.data);
  }

  /**
   * Counting writes do not hold the answer until the disk confirms them (the output gate): the
   * decision is already exact in memory, and waiting for durability cost ~10 ms per request here.
   * A crash can lose the last few milliseconds of counts; a revocation is always confirmed.
   */
  private saveUnconfirmed(): void {
    void this.ctx.storage.put({ [STATE]: this.window.data, [SPEND]: this.spend.data }, { allowUnconfirmed: true });
  }
}

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return env.KEY_LIMITER.get(env.KEY_LIMITER.idFromName(keyId));
}
