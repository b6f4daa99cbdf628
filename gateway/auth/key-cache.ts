import type { ApiKeyRecord } from "./key-record.ts";
import { findKeyByHash } from "./key-store.ts";

/**
 * How long an isolate trusts a key lookup. This bounds how stale limits, allowed models and a
 * revocation can be in other isolates; revocation is also pushed to the key's rate-limit
 * object, which refuses the key at once (see README "Admin API").
 */
const AUTH_CACHE_TTL_MS = 5_000;

/** Bounds memory when many distinct (e.g. guessed) keys arrive. */
const MAX_ENTRIES = 10_000;

const cache = new Map<string, { record: ApiKeyRecord | null; expires: number }>();

export async function lookupKey(db: D1Database, keyHash: string): Promise<ApiKeyRecord | null> {
  const now = Date.now();
  const hit = cache.get(keyHash);
  if (hit && hit.expires > now) return hit.record;
  const record = await findKeyByHash(db, keyHash);
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(keyHash, { record, expires: now + AUTH_CACHE_TTL_MS });
  return record;
}

/** Called by admin writes so the isolate that served them sees the change immediately. */
export function forgetCachedKeys(): void {
  cache.clear();
}
