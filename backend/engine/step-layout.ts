/** One sequence's part of a step: `tokens` appended after `past` cached positions, which lie in `blocks`. */
export interface StepRow {
  past: number;
  tokens: number[];
  blocks: number[];
}

/** Masked attention scores get this bias: exp() of it is 0, yet a fully masked padding row stays finite. */
const masked = -1e30;

/**
 * How a step's tokens are laid out for the graph: flat [T] for the projections and the MoE,
 * padded [B, L] for attention, the block tables [B, blocks] of the cached positions (padded with
 * block 0, masked), and the additive attention bias that encodes each row's cached length,
 * causality and the sliding window over [P cached ‖ L new] keys, P = blocks × blockSize.
 */
export function stepLayout(rows: StepRow[], blockSize: number, slidingWindow: number | null) {
  const batch = rows.length;
  const padded = Math.max(...rows.map((row) => row.tokens.length));
  const tableWidth = Math.max(...rows.map((row) => Math.ceil(row.past / blockSize)));
  const past = tableWidth * blockSize;
  const keysPerRow = past + padded;
  const total = rows.reduce((sum, row) => sum + row.tokens.length, 0);
  const tokenIds = rows.flatMap((row) => row.tokens);
  const positions = new BigInt64Array(total);
  const padIndex = new BigInt64Array(batch * padded);
  const unpadIndex = new BigInt64Array(total);
  const blockTables = new BigInt64Array(batch * tableWidth);
  const lastToken: number[] = [];
  const bias = new Float32Array(batch * padded * keysPerRow).fill(masked);
  let offset = 0;
  rows.forEach((row, b) => {
    for (let i = 0; i < Math.ceil(row.past / blockSize); i++) blockTables[b * tableWidth + i] = BigInt(row.blocks[i]);
    const window = slidingWindow ?? Infinity;
    for (let j = 0; j < padded; j++) {
      const biasRow = (b * padded + j) * keysPerRow;
      if (j >= row.tokens.length) {
        bias[biasRow + past] = 0; // padding query: sees one key so its softmax stays finite; its output is dropped
        continue;
      }
      const token = offset + j;
      const position = row.past + j;
      positions[token] = BigInt(position);
      padIndex[b * padded + j] = BigInt(token);
      unpadIndex[token] = BigInt(b * padded + j);
      for (let key = Math.max(0, position - window + 1); key < row.past; key++) bias[biasRow + key] = 0;
      for (let key = Math.max(0, position - window + 1 - row.past); key <= j; key++) bias[biasRow + past + key] = 0;
    }
    offset += row.tokens.length;
    lastToken.push(offset - 1);
  });
  return {
    batch,
    padded,
    past,
    tableWidth,
    total,
    tokenIds,
    positions,
    padIndex,
    unpadIndex,
    blockTables,
    bias,
    lastToken,
  };
}
export type StepLayout = ReturnType<typeof stepLayout>;
