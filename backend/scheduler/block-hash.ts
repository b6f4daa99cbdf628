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

/**
 * The parent of a sequence's first block: empty without a salt, else the salt's own hash (vLLM's
 * cache_salt), so requests of different salts never share a block, not even the first. A hash is
 * base64 text and a block's token bytes hold zero bytes, so a salted chain cannot meet an unsalted one.
 */
export function rootHash(salt: string | undefined): string {
  return salt ? createHash("sha256").update("cache_salt\0").update(salt).digest("base64") : "";
}
