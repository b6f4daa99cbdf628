/**
 * The graph's feeds and fetches. One run serves a whole step: T new tokens from B sequences
 * (rows), each row padded to L tokens for attention, attending to P = blocks × blockSize cached
 * positions read straight from the per-layer block pools through each row's block table.
 */
export const graphIo = {
  inputsEmbeds: "inputs_embeds", // float [T, hidden]: each token's embedding row, gathered outside the graph (TensorRows)
  positions: "positions", // int64 [T]
  padIndex: "pad_index", // int64 [B*L]: token index for each padded slot (padding points at any token)
  unpadIndex: "unpad_index", // int64 [T]: padded slot of each token
  blockTables: "block_tables", // int32 [B, blocks]: the pool rows (kv-pool.ts: blockRow) of the blocks holding each row's cached positions, in order, to be gathered
  poolTables: "pool_tables", // int64 [B, blocks]: the same blocks, numbered from the window's first, for a step that reads a window of the pool in place (the other table is then empty)
  cachedLengths: "cached_lengths", // float [B]: positions each row has cached (the attention bias is built from these)
  newLengths: "new_lengths", // float [B]: new tokens of each row (≤ L)
  kvSlots: "kv_slots", // int64 [T, 2]: (pool block, offset in it) of each new token, where the graph writes the pools
  logitRows: "logit_rows", // int64 [R]: tokens whose logits are wanted
  drawRows: "draw_rows", // int64 [D]: the logits rows whose next token the graph draws
  drawScale: "draw_scale", // float [D]: 1 / temperature of each draw, 0 = greedy
  drawUniform: "draw_uniform", // float [D]: each draw's uniform number in [0, 1)
  keyCache: (layer: number) => `key_cache_${layer}`, // [chunks, kvHeads, chunkBlocks, blockSize, headDim] in the cache's dtype, rotated keys (kv-pool.ts)
  valueCache: (layer: number) => `value_cache_${layer}`,
  keyPool: (layer: number) => `key_pool_${layer}`, // float [chunks, kvHeads, chunkBlocks · blockSize, headDim]: a window of whole chunks of the key pool, read in place (no positions in a step that gathers)
  valuePool: (layer: number) => `value_pool_${layer}`,
  keyCacheWritten: (layer: number) => `key_cache_written_${layer}`, // the key pool after this step's writes, bound to the same device buffer
  valueCacheWritten: (layer: number) => `value_cache_written_${layer}`,
  logits: "logits", // float [R, vocab]
  drawnTokens: "drawn_tokens", // int64 [D]: the token drawn for each of draw_rows
  hidden: "hidden", // float [T, hidden]: final-norm hidden states
  newKey: (layer: number) => `new_key_${layer}`, // [T, kvHeads, headDim] in the cache's dtype, rotated
  newValue: (layer: number) => `new_value_${layer}`,
  routerLogits: (layer: number) => `router_logits_${layer}`, // float [T, experts]
} as const;
