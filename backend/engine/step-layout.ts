/** One sequence's part of a step: `tokens` appended after `past` cached positions, which lie in `blocks`. */
export interface StepRow {
  past: number;
  tokens: number[];
  blocks: number[];
}

/**
 * How a step's tokens are laid out for the graph: flat [T] for the projections and the MoE,
 * padded [B, L] for attention, the block tables [B, blocks] of the cached positions (padded with
 * block 0, which the attention bias masks), each row's cached and new token counts (the graph
 * builds the attention bias from them), and each new token's (block, offset) in the pool: in the
 * scratch block for a row without blocks (whole-sequence evaluation), whose keys nothing reads.
 */
export function stepLayout(rows: StepRow[], blockSize: number, scratchBlock: number) {
  const batch = rows.length;
  const padded = Math.max(...rows.map((row) => row.tokens.length));
  // At least one (masked) block, so that no step holds an empty cached part: a device EP's
  // kernels fail on empty tensors (WebGPU's MatMul with an inner dimension of 0 crashes the process).
  const tableWidth = Math.max(1, ...rows.map((row) => Math.ceil(row.past / blockSize)));
  const total = rows.reduce((sum, row) => sum + row.tokens.length, 0);
  const tokenIds = rows.flatMap((row) => row.tokens);
  const positions = new BigInt64Array(total);
  const padIndex = new BigInt64Array(batch * padded);
  const unpadIndex = new BigInt64Array(total);
  const blockTables = new BigInt64Array(batch * tableWidth);
  const kvSlots = new BigInt64Array(total * 2);
  const cachedLengths = Float32Array.from(rows, (row) => row.past);
  const newLengths = Float32Array.from(rows, (row) => row.tokens.length);
  const lastToken: number[] = [];
  let offset = 0;
  rows.forEach((row, b) => {
    for (let i = 0; i < Math.ceil(row.past / blockSize); i++) blockTables[b * tableWidth + i] = BigInt(row.blocks[i]);
    row.tokens.forEach((_, j) => {
      const token = offset + j;
      const position = row.past + j;
      positions[token] = BigInt(position);
      padIndex[b * padded + j] = BigInt(token); // padding slots keep 0: any token will do, their outputs are dropped
      unpadIndex[token] = BigInt(b * padded + j);
      kvSlots[2 * token] = BigInt(row.blocks[Math.floor(position / blockSize)] ?? scratchBlock);
      kvSlots[2 * token + 1] = BigInt(position % blockSize);
    });
    offset += row.tokens.length;
    lastToken.push(offset - 1);
  });
  return {
    batch,
    padded,
    tableWidth,
    total,
    tokenIds,
    positions,
    padIndex,
    unpadIndex,
    blockTables,
    kvSlots,
    cachedLengths,
    newLengths,
    lastToken,
  };
}
export type StepLayout = ReturnType<typeof stepLayout>;
