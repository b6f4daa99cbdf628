/**
 * A per-sequence logits processor that restricts which tokens may come next (a grammar, a forced
 * token). The model runner masks the logits of only the sequences that have one, so unconstrained
 * sequences in the same batch pay nothing.
 */
export interface TokenConstraint {
  /** The tokens allowed next as a bitmask (bit i of word i >> 5 set = token i allowed); undefined = any token. */
  allowed(): Promise<Int32Array | undefined>;
  /** Advances past the token that was sampled; throws if the constraint did not allow it. */
  accept(token: number): void;
  /** Frees what it holds (a grammar matcher's WASM memory) once its sequence is over. */
  release(): void;
}

/** A copy of the logits with every token the bitmask forbids at -Infinity. */
export function maskLogits(logits: Float32Array, bitmask: Int32Array): Float32Array {
  const masked = Float32Array.from(logits);
  for (let word = 0; word < bitmask.length; word++) {
    const bits = bitmask[word];
    if (bits === -1) continue;
    const end = Math.min((word + 1) * 32, masked.length);
    for (let token = word * 32; token < end; token++) if ((bits & (1 << (token & 31))) === 0) masked[token] = -Infinity;
  }
  return masked;
}
