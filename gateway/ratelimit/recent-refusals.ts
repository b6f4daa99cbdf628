/** Bounds memory when many keys are refused at once. */
const MAX_ENTRIES = 10_000;

const refusedUntil = new Map<string, number>();

/**
 * Keys this isolate saw refused, until their Retry-After. Their next requests ask the limiter
 * before the pool, so a client hammering past its limit costs the one shared pool object nothing.
 */
export function noteRefusal(keyId: string, retryAfterSeconds: number): void {
  if (refusedUntil.size >= MAX_ENTRIES) refusedUntil.clear();
  refusedUntil.set(keyId, Date.now() + retryAfterSeconds * 1000);
}

export function recentlyRefused(keyId: string): boolean {
  const until = refusedUntil.get(keyId);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  refusedUntil.delete(keyId);
  return false;
}
