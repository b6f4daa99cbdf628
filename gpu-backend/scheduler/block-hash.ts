import { createHash } from "node:crypto";

/**
 * The prefix-cache key of a full KV block, chained as in vLLM's automatic prefix caching: the hash
 * of the block before it and the block's own token ids, so equal keys mean equal whole prefixes.
 */
export function blockHash(parent: string, tokens: number[]): string {
  return createHash("sha256")
    .update(parent)
    .update(new Uint8Array(Int32Array.from(tokens).buffer))
    .digest("base64");
}
