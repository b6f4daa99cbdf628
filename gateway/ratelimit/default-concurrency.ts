import type { KeyLimits } from "../auth/key-record.ts";

/**
 * The limits a key is held to: its own, with the gateway's DEFAULT_KEY_CONCURRENCY where it sets no
 * concurrency cap, so no key left without one can take every seat of the pool. An empty or
 * non-positive default sets none.
 */
export function withDefaultConcurrency(limits: KeyLimits, env: Pick<Env, "DEFAULT_KEY_CONCURRENCY">): KeyLimits {
  const fallback = Number(env.DEFAULT_KEY_CONCURRENCY);
  return limits.max_concurrent === null && Number.isInteger(fallback) && fallback > 0
    ? { ...limits, max_concurrent: fallback }
    : limits;
}
