import { DurableObject } from "cloudflare:workers";
import type { KeyLimits } from "../auth/key-record.ts";
import { emptySpend, SpendBudget, type SpendState } from "./spend-budget.ts";
import {
  emptyWindow,
  isWindowState,
  refusal,
  UsageWindow,
  type Decision,
  type RefusalReason,
  type TokenAsk,
} from "./usage-window.ts";
import { limitExceeded, worstCase, type Pricing } from "./worst-case.ts";

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
    void ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get(STATE);
      if (isWindowState(saved)) this.window = new UsageWindow(saved);
      const spent = await ctx.storage.get<SpendState>(SPEND);
      if (spent) this.spend = new SpendBudget(spent);
    });
  }

  /**
   * Admits a request or says why not. It reserves its worst case (see worstCase): refused at once
   * when that exceeds a limit on its own (retryAfterSeconds null), else when the money budget, then
   * the token window, cannot take it now.
   */
  reserve(limits: KeyLimits, ask: TokenAsk, pricing: Pricing): Decision {
    const now = Date.now();
    const allowance = { tokens: this.window.allowance(limits, now), money: this.spend.left(limits, now) };
    const worst = worstCase(ask, allowance, pricing);
    const refuse = (reason: RefusalReason, retryAfterMs: number | null) =>
      refusal(reason, retryAfterMs, this.window.snapshot(limits, worst.tokens));
    // A revoked key is the window's to refuse, whatever the request.
    const exceeded = this.window.data.revoked ? null : limitExceeded(limits, worst);
    const budgetRefusal = this.window.data.revoked || exceeded ? null : this.spend.refusal(limits, worst.cost, now);
    const decision: Decision = exceeded
      ? refuse(exceeded, null)
      : budgetRefusal !== null
        ? refuse("spend", budgetRefusal)
        : this.window.reserve(limits, { ...ask, maxTokens: worst.maxTokens }, now);
    if (decision.admitted) {
      this.spend.reserve(decision.reservation, worst.cost, limits, now);
      this.saveUnconfirmed();
    }
    decision.snapshot.budget = this.spend.snapshot(limits, now, worst.cost);
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
