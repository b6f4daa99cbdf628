import type { GraphContext } from "./graph-context.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/** RMSNorm of x [T, hidden] with the checkpoint's weight `name`; `output` names the result. */
export function rmsNorm(g: GraphBuilder, ctx: GraphContext, x: Tensor, name: string, output?: string): Tensor {
  return g.node(
    "SimplifiedLayerNormalization",
    [x, ctx.weights.vector(g, name)],
    { axis: -1, epsilon: { float: ctx.config.rmsNormEps } },
    output ? { outputs: [output] } : {},
  )[0];
}
