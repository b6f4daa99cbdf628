import { graphIo } from "./graph-io.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/** The step's feeds every layer reads (graphIo describes them), and the dynamic sizes taken from them. */
export interface StepInputs {
  positions: Tensor; // int64 [T]
  padIndex: Tensor; // int64 [B·L]
  unpadIndex: Tensor; // int64 [T]
  blockTables: Tensor; // int64 [B, blocks]
  bias: Tensor; // float [B, 1, L, P+L]
  logitRows: Tensor; // int64 [R]
  dimL: Tensor; // int64 [1]: L
  dimPL: Tensor; // int64 [1]: P + L
  pastAndNew: Tensor; // int64 [2]: P, L
}

export function stepInputs(g: GraphBuilder): StepInputs {
  const positions = g.input(graphIo.positions, "int64", ["T"]);
  const padIndex = g.input(graphIo.padIndex, "int64", ["BL"]);
  const unpadIndex = g.input(graphIo.unpadIndex, "int64", ["T"]);
  const blockTables = g.input(graphIo.blockTables, "int64", ["B", "blocks"]);
  const bias = g.input(graphIo.attentionBias, "float32", ["B", 1, "L", "PL"]);
  const logitRows = g.input(graphIo.logitRows, "int64", ["R"]);

  // Dynamic sizes L, P+L and P, taken from the bias' shape, for the reshapes between flat and padded layouts.
  const biasShape = g.op("Shape", [bias]);
  const dimL = g.op("Slice", [biasShape, g.ints([2]), g.ints([3])]);
  const dimPL = g.op("Slice", [biasShape, g.ints([3]), g.ints([4])]);
  const pastAndNew = g.op("Concat", [g.op("Sub", [dimPL, dimL]), dimL], { axis: 0 });
  return { positions, padIndex, unpadIndex, blockTables, bias, logitRows, dimL, dimPL, pastAndNew };
}

/** [T, ...rest] → [B, L, ...rest] through the pad index. */
export function padded(g: GraphBuilder, step: StepInputs, x: Tensor, rest: number[]): Tensor {
  return g.op("Reshape", [
    g.op("Gather", [x, step.padIndex]),
    g.op("Concat", [g.ints([-1]), step.dimL, g.ints(rest)], { axis: 0 }),
  ]);
}
