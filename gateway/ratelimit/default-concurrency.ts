import type { KeyLimits } from "../auth/key-record.ts";

/**
 * The limits a key is held to: its own, with the gateway's DEFAULT_KEY_CONCURRENCY where it sets no
 * concurrency cap, so no key left without one can take every seat of the pool. A null default
 * (the var empty or non-positive) sets none.
 */
export function withDefaultConcurrency(limits: KeyLimits, defaultConcurrency: number | null): KeyLimits {
  return limits.max_concurrent === null && defaultConcurrency !== null
    ? { ...limits, max_concurrent: defaultConcurrency }
    : limits;
}
