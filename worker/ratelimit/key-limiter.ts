import { DurableObject } from "cloudflare:workers";
import type { KeyLimits } from "../auth/key-record.ts";
import { emptyWindow, UsageWindow, type Decision, type TokenAsk, type WindowState } from "./usage-window.ts";

const STATE = "window";

/**
 * One object per API key, so every location in the world counts against the same window.
 * Decisions are made in memory without awaiting, so concurrent calls are decided strictly one
 * after another; the window is then written to the object's SQLite storage so it survives eviction.
 */
export class KeyLimiter extends DurableObject<Env> {
  private window = new UsageWindow(emptyWindow(Date.now()));

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get<WindowState>(STATE);
      if (saved) this.window = new UsageWindow(saved);
    });
  }

  reserve(limits: KeyLimits, ask: TokenAsk): Decision {
    const decision = this.window.reserve(limits, ask, Date.now());
    if (decision.admitted) this.saveUnconfirmed();
    return decision;
  }

  settle(reservation: string, actualTokens: number): void {
    this.window.settle(reservation, actualTokens, Date.now());
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
    void this.ctx.storage.put(STATE, this.window.data, { allowUnconfirmed: true });
  }
}

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return env.KEY_LIMITER.get(env.KEY_LIMITER.idFromName(keyId));
}
