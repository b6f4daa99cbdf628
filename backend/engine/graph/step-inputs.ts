import type { KvPoolPlace } from "../../options.ts";
import type { ModelConfig } from "../checkpoint/config.ts";
import { graphIo } from "./graph-io.ts";
import { perHeadIndices } from "./kv-cache.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/** Masked attention scores get this bias: exp() of it is 0, yet a fully masked row stays finite. */
const masked = -1e30;

/** The step's feeds every layer reads (graphIo describes them), and what is derived from them once. */
export interface StepInputs {
  positions: Tensor; // int64 [T]
  padIndex: Tensor; // int64 [B·L]
  unpadIndex: Tensor; // int64 [T]
  blockTables: Tensor; // int64 [B, blocks]
  /** Where the graph writes the pools itself (a device pool): ScatterND's indices, (head, block, offset) of every head of every new token. */
  headSlots?: Tensor; // int64 [kvHeads, T, 3]
  bias: Tensor; // float [B, 1, L, P+L]
  logitRows: Tensor; // int64 [R]
  dimL: Tensor; // int64 [1]: L
  dimPL: Tensor; // int64 [1]: P + L
  pastAndNew: Tensor; // int64 [2]: P, L
}

export function stepInputs(g: GraphBuilder, config: ModelConfig, kvPool: KvPoolPlace): StepInputs {
  const positions = g.input(graphIo.positions, "int64", ["T"]);
  const padIndex = g.input(graphIo.padIndex, "int64", ["BL"]);
  const unpadIndex = g.input(graphIo.unpadIndex, "int64", ["T"]);
  const blockTables = g.input(graphIo.blockTables, "int64", ["B", "blocks"]);
  const logitRows = g.input(graphIo.logitRows, "int64", ["R"]);

  // Dynamic sizes: L = padded slots / rows, P = table width × block size (the pools' third dimension).
  const dim = (x: Tensor, axis: number): Tensor =>
    g.op("Slice", [g.op("Shape", [x]), g.ints([axis]), g.ints([axis + 1])]);
  const dimL = g.op("Div", [dim(padIndex, 0), dim(blockTables, 0)]);
  const dimP = g.op("Mul", [dim(blockTables, 1), dim(graphIo.keyCache(0), 2)]);
  const dimPL = g.op("Add", [dimP, dimL]);
  const pastAndNew = g.op("Concat", [dimP, dimL], { axis: 0 });
  const bias = attentionBias(g, dimP, dimL, config.slidingWindow);
  const headSlots =
    kvPool === "device" ? perHeadIndices(g, config.kvHeads, g.input(graphIo.kvSlots, "int64", ["T", 2]), 2) : undefined;
  return { positions, padIndex, unpadIndex, blockTables, headSlots, bias, logitRows, dimL, dimPL, pastAndNew };
}

/**
 * The additive attention bias [B, 1, L, P+L] over [P cached ‖ L new] keys, built in the graph from
 * each row's cached and new token counts, so a step uploads two numbers per row instead of a mask
 * that grows with the context. A key is seen when it holds a position of the row (below its
 * cached count, or one of its new tokens), at or before the query's position and inside the
 * sliding window. A padding query sees every key of its row: finite, and its output is dropped.
 * In float32, exact for positions below 2^24, because WebGPU has few int64 kernels.
 */
function attentionBias(g: GraphBuilder, dimP: Tensor, dimL: Tensor, slidingWindow: number | null): Tensor {
  const perRow = (name: string): Tensor => g.op("Reshape", [g.input(name, "float32", ["B"]), g.ints([-1, 1, 1, 1])]);
  const cached = perRow(graphIo.cachedLengths); // [B, 1, 1, 1]
  const fresh = perRow(graphIo.newLengths);
  const count = (n: Tensor): Tensor =>
    g.op("Range", [g.scalar(0), g.cast(g.op("Squeeze", [n]), "float32"), g.scalar(1)]);
  const p = g.cast(dimP, "float32"); // [1]
  const key = count(g.op("Add", [dimP, dimL])); // [P+L]
  const isNew = g.op("Not", [g.op("Less", [key, p])]);
  const newIndex = g.op("Sub", [key, p]);
  const keyPosition = g.op("Where", [isNew, g.op("Add", [cached, newIndex]), key]); // [B, 1, 1, P+L]
  const keyHeld = g.op("Or", [g.op("Less", [key, cached]), g.op("And", [isNew, g.op("Less", [newIndex, fresh])])]);
  const queryPosition = g.op("Add", [cached, g.op("Reshape", [count(dimL), g.ints([1, 1, -1, 1])])]); // [B, 1, L, 1]
  const causal = g.op("Not", [g.op("Less", [queryPosition, keyPosition])]);
  let visible = g.op("And", [keyHeld, causal]);
  if (slidingWindow !== null)
    visible = g.op("And", [
      visible,
      g.op("Less", [g.op("Sub", [queryPosition, keyPosition]), g.scalar(slidingWindow)]),
    ]);
  return g.op("Where", [visible, g.scalar(0), g.scalar(masked)]); // [B, 1, L, P+L]
}

/** [T, ...rest] → [B, L, ...rest] through the pad index. */
export function padded(g: GraphBuilder, step: StepInputs, x: Tensor, rest: number[]): Tensor {
  return g.op("Reshape", [
    g.op("Gather", [x, step.padIndex]),
    g.op("Concat", [g.ints([-1]), step.dimL, g.ints(rest)], { axis: 0 }),
  ]);
}
