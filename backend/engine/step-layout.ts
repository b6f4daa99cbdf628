/** One sequence's part of a step: `tokens` appended after `past` cached positions, which lie in `blocks`. */
export interface StepRow {
  past: number;
  tokens: number[];
  blocks: number[];
}

/**
 * Whether a step attends to the whole pool where it lies (graphIo.keyPool, a host float32 pool of
 * `poolPositions` cells) rather than gathering its rows' blocks: a decode step (one new token per
 * row) whose pool is under twice its longest row's cached part P. Gathering moves P cells per row
 * three times (read, written, read again by the products); in place each row's products read all
 * N cells once, so in place wins below N = 3P; the margin to 2P covers what that leaves out (the
 * softmax and the mask over N cells). A pool sized to its sequences (one-shot commands, `moxie
 * bench`, `--kv-cache-memory` for one long conversation) is read in place; a pool shared by many
 * rows is gathered from. A prefill gathers: its cost is the queries' products, the same both ways,
 * and in place its scores would be held twice (transposed after the k·qᵀ product).
 */
export function readsInPlace(rows: StepRow[], blockSize: number, poolPositions: number): boolean {
  const cached = blockSize * Math.max(...rows.map((row) => Math.ceil(row.past / blockSize)));
  return rows.every((row) => row.tokens.length === 1) && poolPositions < 2 * cached;
}

/**
 * How a step's tokens are laid out for the graph: flat [T] for the projections and the MoE,
 * padded [B, L] for attention, the block tables [B, blocks] of the cached positions (padded with
 * block 0, which the attention bias masks), each row's cached and new token counts (the graph
 * builds the attention bias from them), and each new token's (block, offset) in the pool: in the
 * scratch block for a row without blocks (whole-sequence evaluation), whose keys nothing reads.
 * A step that reads the pool in place (readsInPlace) gets its tables as pool tables, padded with the
 * scratch block, and an empty gather table.
 */
export function stepLayout(rows: StepRow[], blockSize: number, scratchBlock: number, inPlace = false) {
  const batch = rows.length;
  const padded = Math.max(...rows.map((row) => row.tokens.length));
  const rowBlocks = Math.max(0, ...rows.map((row) => Math.ceil(row.past / blockSize)));
  // At least one (masked) block, so that no step holds an empty cached part: a device EP's
  // kernels fail on empty tensors (WebGPU's MatMul with an inner dimension of 0 crashes the process).
  // Reading in place happens only on the CPU EP, which takes empty tensors.
  const tableWidth = inPlace ? 0 : Math.max(1, rowBlocks);
  const poolTableWidth = inPlace ? rowBlocks : 0;
  const total = rows.reduce((sum, row) => sum + row.tokens.length, 0);
  const tokenIds = rows.flatMap((row) => row.tokens);
  const positions = new BigInt64Array(total);
  const padIndex = new BigInt64Array(batch * padded);
  const unpadIndex = new BigInt64Array(total);
  const blockTables = new BigInt64Array(batch * tableWidth);
  const poolTables = new BigInt64Array(batch * poolTableWidth).fill(BigInt(scratchBlock));
  const kvSlots = new BigInt64Array(total * 2);
  const cachedLengths = Float32Array.from(rows, (row) => row.past);
  const newLengths = Float32Array.from(rows, (row) => row.tokens.length);
  const lastToken: number[] = [];
  let offset = 0;
  rows.forEach((row, b) => {
    for (let i = 0; i < Math.ceil(row.past / blockSize); i++) {
      if (inPlace) poolTables[b * poolTableWidth + i] = BigInt(row.blocks[i]);
      else blockTables[b * tableWidth + i] = BigInt(row.blocks[i]);
    }
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
    poolTableWidth,
    poolTables,
    kvSlots,
    cachedLengths,
    newLengths,
    lastToken,
  };
}
export type StepLayout = ReturnType<typeof stepLayout>;
