/** Extra queued requests the affinity backend may carry over the least loaded one before affinity yields. */
const AFFINITY_MAX_EXTRA_LOAD = 4;

export interface Candidate {
  id: string;
  /** Requests running or waiting there. */
  load: number;
}

/**
 * Least loaded, with prefix affinity: rendezvous hashing sends the same affinity key to the same
 * backend (whose KV cache holds the prefix) while the set of backends changes only minimally,
 * unless that backend is much busier than the least loaded one.
 */
export function chooseBackend(candidates: Candidate[], affinityKey: string | null): Candidate | undefined {
  if (candidates.length === 0) return undefined;
  const leastLoaded = candidates.reduce((best, candidate) => (candidate.load < best.load ? candidate : best));
  if (affinityKey === null) return leastLoaded;
  const preferred = candidates.reduce((best, candidate) =>
    rendezvousWeight(affinityKey, candidate.id) > rendezvousWeight(affinityKey, best.id) ? candidate : best,
  );
  return preferred.load - leastLoaded.load > AFFINITY_MAX_EXTRA_LOAD ? leastLoaded : preferred;
}

/**
 * FNV-1a over key and backend id, then a murmur3 finaliser for avalanche. Hand-written: a
 * synchronous 32-bit hash is all rendezvous hashing needs, and no library is worth a bundle slot.
 */
function rendezvousWeight(key: string, backendId: string): number {
  let hash = 0x811c9dc5;
  for (const char of `${key}\u0000${backendId}`) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
