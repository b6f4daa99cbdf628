import { blockRow, standInBlocks, type KvPoolShape, type PoolWindow } from "./kv-pool.ts";

/** One sequence's part of a step: `tokens` appended after `past` cached positions, which lie in `blocks`. */
export interface StepRow {
  past: number;
  tokens: number[];
  blocks: number[];
}

/**
 * The window of whole pool chunks a step attends to where it lies (graphIo.keyPool, a float32
 * pool), or undefined where it gathers its rows' blocks: a decode step (one new token per row)
 * whose window, the chunks from the lowest to the highest block its rows have cached (on a device
 * from chunk 0, and past each row's first block, which is gathered: KvPoolShape.place), holds
 * under twice its longest row's cached part P. Gathering moves P cells per row three times (read,
 * written, read again by the products); in place the products read the window's W cells once for
 * all rows, so in place wins below W = 3P; the margin to 2P covers what that leaves out (the
 * softmax and the mask over W cells, each row's queries against all of them). One long
 * conversation's blocks, taken in order from the free list, make a window little wider than
 * itself; rows scattered over a large pool are gathered from. A prefill gathers: its cost is the
 * queries' products, the same both ways, and in place each of its queries would be scored against
 * the whole window.
 */
export function inPlaceWindow(
  rows: StepRow[],
  { blockSize, chunkBlocks, place }: Pick<KvPoolShape, "blockSize" | "chunkBlocks" | "place">,
): PoolWindow | undefined {
  if (rows.some((row) => row.tokens.length !== 1)) return undefined;
  let [lowest, highest, cached] = [Infinity, -1, 0];
  for (const { past, blocks } of rows) {
    const held = Math.ceil(past / blockSize);
    cached = Math.max(cached, held * blockSize);
    for (let i = standInBlocks(place); i < held; i++)
      [lowest, highest] = [Math.min(lowest, blocks[i]), Math.max(highest, blocks[i])];
  }
  if (highest < 0) return undefined;
  const first = place === "device" ? 0 : Math.floor(lowest / chunkBlocks);
  const chunks = Math.floor(highest / chunkBlocks) + 1 - first;
  return chunks * chunkBlocks * blockSize < 2 * cached ? { first, chunks } : undefined;
}

/**
 * How a step's tokens are laid out for the graph: flat [T] for the projections and the MoE,
 * padded [B, L] for attention, the block tables [B, blocks] of the cached positions (padded with
 * block 0, which the attention bias masks), each row's cached and new token counts (the graph
 * builds the attention bias from them), and each new token's (block, offset) in the pool: in the
 * scratch block for a row without blocks (whole-sequence evaluation), whose keys nothing reads.
 * A step that reads a window of the pool in place (inPlaceWindow) gets its blocks as pool tables,
 * numbered from the window's first block and padded with the block just past the window, a column
 * the graph drops. On a device, where no tensor may be empty (KvPoolShape.place), such a step
 * still gathers each row's first block, and a step that gathers gets one padding column, past its
 * window of one block.
 */
export function stepLayout(rows: StepRow[], pool: KvPoolShape, window?: PoolWindow) {
  const { blockSize, blocks: scratchBlock, chunkBlocks, place } = pool;
  const gathered = standInBlocks(place);
  const batch = rows.length;
  const padded = Math.max(...rows.map((row) => row.tokens.length));
  const rowBlocks = Math.max(0, ...rows.map((row) => Math.ceil(row.past / blockSize)));
  const tableWidth = window ? gathered : Math.max(1, rowBlocks); // a device EP's kernels fail on empty tensors
  const poolTableWidth = window ? rowBlocks : gathered;
  const windowStart = window ? window.first * chunkBlocks : 0;
  const windowBlocks = window ? window.chunks * chunkBlocks : gathered;
  const total = rows.reduce((sum, row) => sum + row.tokens.length, 0);
  const tokenIds = rows.flatMap((row) => row.tokens);
  const positions = new BigInt64Array(total);
  const padIndex = new BigInt64Array(batch * padded);
  const unpadIndex = new BigInt64Array(total);
  const blockTables = new Int32Array(batch * tableWidth);
  const poolTables = new BigInt64Array(batch * poolTableWidth).fill(BigInt(windowBlocks));
  const kvSlots = new BigInt64Array(total * 2);
  const cachedLengths = Float32Array.from(rows, (row) => row.past);
  const newLengths = Float32Array.from(rows, (row) => row.tokens.length);
  const lastToken: number[] = [];
  let offset = 0;
  rows.forEach((row, b) => {
    for (let i = 0; i < Math.ceil(row.past / blockSize); i++) {
      if (window && i >= gathered) poolTables[b * poolTableWidth + i] = BigInt(row.blocks[i] - windowStart);
      else blockTables[b * tableWidth + i] = blockRow(row.blocks[i], pool);
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
