import type { GraphContext } from "./graph-context.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/** A SwiGLU MLP's HF weights: the dense MLP's or one expert's (tensorNames). */
export interface MlpNames {
  prefix: string;
  gate: string;
  up: string;
  down: string;
}

/** down(silu(gate x) · up x) on x [rows, hidden], with gate|up fused into one projection. */
export function swiglu(g: GraphBuilder, ctx: GraphContext, x: Tensor, names: MlpNames): Tensor {
  const { weights } = ctx;
  const { ffnSize } = ctx.config;
  const precision = weights.precision.projections;
  const gateUp = weights.linear(g, x, `${names.prefix}.gate_up`, [names.gate, names.up], precision); // [rows, 2·ffn]
  const [gate, up] = g.node("Split", [gateUp, g.ints([ffnSize, ffnSize])], { axis: -1 }, { outputs: 2 });
  const activated = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]); // [rows, ffn]
  return weights.linear(g, activated, `${names.prefix}.down`, [names.down], precision); // [rows, hidden]
}
