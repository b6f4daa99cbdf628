import type { KvCacheDtype, KvPoolPlace } from "../../options.ts";
import type { ModelConfig } from "../checkpoint/config.ts";
import { graphIo } from "./graph-io.ts";
import { poolSlotIndices } from "./kv-cache.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/** Masked attention scores get this bias: exp() of it is 0, yet a fully masked row stays finite. */
const masked = -1e30;
/** The position a pool cell holds for a row whose block table does not list its block: beyond any cached count. */
const notInRow = 2 ** 24;

/**
 * Whether the graph can attend to a window of a layer's pool where it lies (graphIo.keyPool), besides
 * gathering rows' blocks: a float32 pool, on the host or the device, which the graph reads without
 * a copy. A float16 pool's window would be cast to float32 for the products, a copy of the window.
 */
export const readsPoolInPlace = (kvCacheDtype: KvCacheDtype): boolean => kvCacheDtype === "float32";

/** The step's feeds every layer reads (graphIo describes them), and what is derived from them once. */
export interface StepInputs {
  positions: Tensor; // int64 [T]
  padIndex: Tensor; // int64 [B·L]
  unpadIndex: Tensor; // int64 [T]
  /** The rows' cached blocks for every head: rows of a pool viewed as [rows, blockSize, headDim] (kv-pool.ts: blockRow). */
  blockRows: Tensor; // int32 [kvHeads, B, blocks]
  blockSize: Tensor; // int64 [1]: positions per block
  /** Where the graph writes the pools itself (a device pool): ScatterND's indices of every head of every new token (poolSlotIndices). */
  slotIndices?: Tensor; // int64 [kvHeads, T, 4]
  /** Additive bias over every key a query may see: [P gathered ‖ L new ‖ N in place, where the pool is read in place]. */
  bias: Tensor; // float [B, 1, L, K]
  logitRows: Tensor; // int64 [R]
  dimL: Tensor; // int64 [1]: L
  dimKeys: Tensor; // int64 [1]: K
  keyParts: Tensor; // int64 [2 | 3]: P, L (, N)
}

export function stepInputs(
  g: GraphBuilder,
  config: ModelConfig,
  kvPool: KvPoolPlace,
  kvCacheDtype: KvCacheDtype,
): StepInputs {
  const positions = g.input(graphIo.positions, "int64", ["T"]);
  const padIndex = g.input(graphIo.padIndex, "int64", ["BL"]);
  const unpadIndex = g.input(graphIo.unpadIndex, "int64", ["T"]);
  const blockTables = g.input(graphIo.blockTables, "int32", ["B", "blocks"]);
  const logitRows = g.input(graphIo.logitRows, "int64", ["R"]);

  // Dynamic sizes: L = padded slots / rows, P = table width × block size (the pools' fourth dimension).
  const dimL = g.op("Div", [g.dims(padIndex, 0), g.dims(blockTables, 0)]);
  const chunkBlocks = g.dims(graphIo.keyCache(0), 2);
  const blockSize = g.dims(graphIo.keyCache(0), 3);
  const dimP = g.op("Mul", [g.dims(blockTables, 1), blockSize]);
  const rows = rowLengths(g, dimL, config.slidingWindow);
  const parts = [dimP, dimL];
  let bias = attentionBias(g, rows, dimP, dimL);
  if (readsPoolInPlace(kvCacheDtype)) {
    const dimN = g.op("Mul", [g.dims(graphIo.keyPool(0), 0), g.dims(graphIo.keyPool(0), 2)]);
    parts.push(dimN);
    bias = g.op("Concat", [bias, poolBias(g, rows, blockSize, dimN)], { axis: -1 });
  }
  const keyParts = g.op("Concat", parts, { axis: 0 });
  const dimKeys = parts.reduce((sum, part) => g.op("Add", [sum, part]));
  // int32, so that this stays on a device EP, where int64 arithmetic falls back to the CPU.
  const heads = g.constant(
    "int32",
    [config.kvHeads, 1, 1],
    Array.from({ length: config.kvHeads }, (_, head) => head),
  );
  const blockRows = g.op("Add", [blockTables, g.op("Mul", [heads, g.cast(chunkBlocks, "int32")])]);
  const slotIndices =
    kvPool === "device"
      ? poolSlotIndices(g, config.kvHeads, chunkBlocks, g.input(graphIo.kvSlots, "int64", ["T", 2]))
      : undefined;
  return {
    positions,
    padIndex,
    unpadIndex,
    blockRows,
    blockSize,
    slotIndices,
    bias,
    logitRows,
    dimL,
    dimKeys,
    keyParts,
  };
}

/** Each row's cached and new token counts, its queries' positions, and what a query at a key position sees. */
interface RowLengths {
  cached: Tensor; // float [B, 1, 1, 1]
  fresh: Tensor; // float [B, 1, 1, 1]
  /** The bias of keys at `keyPosition` [B, 1, 1, K], `held` where the row has them: 0 where a query sees them, masked elsewhere. */
  visibleBias(keyPosition: Tensor, held: Tensor): Tensor; // float [B, 1, L, K]
}

/**
 * Rows' lengths from the feeds, so a step uploads two numbers per row instead of a mask that grows
 * with the context. A key is seen when the row holds it, at or before the query's position and
 * inside the sliding window. A padding query sees every key of its row: finite, and its output is
 * dropped. In float32, exact for positions below 2^24, because WebGPU has few int64 kernels.
 */
function rowLengths(g: GraphBuilder, dimL: Tensor, slidingWindow: number | null): RowLengths {
  const perRow = (name: string): Tensor => g.op("Reshape", [g.input(name, "float32", ["B"]), g.ints([-1, 1, 1, 1])]);
  const cached = perRow(graphIo.cachedLengths);
  const fresh = perRow(graphIo.newLengths);
  const queryPosition = g.op("Add", [cached, g.op("Reshape", [count(g, dimL), g.ints([1, 1, -1, 1])])]); // [B, 1, L, 1]
  const visibleBias = (keyPosition: Tensor, held: Tensor): Tensor => {
    let visible = g.op("And", [held, g.op("Not", [g.op("Less", [queryPosition, keyPosition])])]);
    if (slidingWindow !== null)
      visible = g.op("And", [
        visible,
        g.op("Less", [g.op("Sub", [queryPosition, keyPosition]), g.scalar(slidingWindow)]),
      ]);
    return g.op("Where", [visible, g.scalar(0), g.scalar(masked)]);
  };
  return { cached, fresh, visibleBias };
}

/** 0, 1, …, n − 1 as float32, n an int64 [1]. */
const count = (g: GraphBuilder, n: Tensor): Tensor =>
  g.op("Range", [g.scalar(0), g.cast(g.op("Squeeze", [n]), "float32"), g.scalar(1)]);

/** The bias [B, 1, L, P+L] over the P gathered keys (each row's blocks in table order) and the L new ones. */
function attentionBias(g: GraphBuilder, rows: RowLengths, dimP: Tensor, dimL: Tensor): Tensor {
  const { cached, fresh } = rows;
  const p = g.cast(dimP, "float32"); // [1]
  const key = count(g, g.op("Add", [dimP, dimL])); // [P+L]
  const isNew = g.op("Not", [g.op("Less", [key, p])]);
  const newIndex = g.op("Sub", [key, p]);
  const keyPosition = g.op("Where", [isNew, g.op("Add", [cached, newIndex]), key]); // [B, 1, 1, P+L]
  // Held: a gathered key below the row's cached count, a new one below its new count. One Less
  // against a per-part limit rather than an Or, which WebGPU lacks: ORT ran the Or on the CPU and
  // moved B × K booleans to the host and back at every step.
  const held = g.op("Less", [key, g.op("Where", [isNew, g.op("Add", [p, fresh]), cached])]);
  return rows.visibleBias(keyPosition, held);
}

/**
 * The bias [B, 1, L, N] over the N cells of the window read in place: a cell holds position
 * i·blockSize + offset of a row whose table (graphIo.poolTables, numbered from the window's first
 * block) lists its block at index i, and is held below the row's cached count; any other cell
 * (other rows' blocks, free ones) is masked. A table's padding points at the column just past the
 * window, which is dropped.
 */
function poolBias(g: GraphBuilder, rows: RowLengths, blockSize: Tensor, dimN: Tensor): Tensor {
  const tables = g.input(graphIo.poolTables, "int64", ["B", "poolTableWidth"]);
  const shape = g.op("Shape", [tables]);
  const [batch, width] = g.node("Split", [shape], { axis: 0, num_outputs: 2 }, { outputs: 2 });
  const windowBlocks = g.op("Div", [dimN, blockSize]);
  const rowsAndBlocks = g.op("Concat", [batch, g.op("Add", [windowBlocks, g.ints([1])])], { axis: 0 });
  const firstPositions = g.op("Expand", [g.op("Mul", [count(g, width), g.cast(blockSize, "float32")]), shape]); // [B, W]
  const blockStart = g.op("Slice", [
    g.op("ScatterElements", [g.op("Expand", [g.scalar(notInRow), rowsAndBlocks]), tables, firstPositions], {
      axis: 1,
    }),
    g.ints([0]),
    windowBlocks,
    g.ints([1]),
  ]); // [B, window blocks]: where each block starts in the row, notInRow where the row has none
  const cellPosition = g.op("Reshape", [
    g.op("Add", [g.op("Unsqueeze", [blockStart, g.ints([2])]), count(g, blockSize)]),
    g.ints([0, 1, 1, -1]),
  ]); // [B, 1, 1, N]
  return rows.visibleBias(cellPosition, g.op("Less", [cellPosition, rows.cached]));
}

/** [T, ...rest] → [B, L, ...rest] through the pad index. */
export function padded(g: GraphBuilder, step: StepInputs, x: Tensor, rest: number[]): Tensor {
  return g.op("Reshape", [
    g.op("Gather", [x, step.padIndex]),
    g.op("Concat", [g.ints([-1]), step.dimL, g.ints(rest)], { axis: 0 }),
  ]);
}
