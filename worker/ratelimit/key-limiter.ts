import { DurableObject } from "cloudflare:workers";
import type { KeyLimits } from "../auth/key-record.ts";
import { emptyWindow, UsageWindow, type Decision, type WindowState } from "./usage-window.ts";

const STATE = "window";

/**
 * One object per API key, so every location in the world counts against the same window.
 * Each method runs without awaiting and writes through the synchronous SQLite-backed storage,
 * so concurrent calls are decided one after another and the state survives eviction.
 */
export class KeyLimiter extends DurableObject<Env> {
  private readonly window: UsageWindow;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.window = new UsageWindow(ctx.storage.kv.get<WindowState>(STATE) ?? emptyWindow(Date.now()));
  }

  reserve(limits: KeyLimits, cost: number): Decision {
    const decision = this.window.reserve(limits, cost, Date.now());
    if (decision.admitted) this.save();
    return decision;
  }

  settle(reservation: string, actualTokens: number): void {
    this.window.settle(reservation, actualTokens, Date.now());
    this.save();
  }

  revoke(): void {
    this.window.revoke();
    this.save();
  }

  private save(): void {
    this.ctx.storage.kv.put(STATE, this.window.data);
  }
}

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return env.KEY_LIMITER.get(env.KEY_LIMITER.idFromName(keyId));
}
