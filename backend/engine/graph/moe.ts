import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphContext } from "./graph-context.ts";
import { graphIo } from "./graph-io.ts";
import { swiglu } from "./mlp.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/**
 * Mixtral's sparse MoE inside the graph: the step's (token, choice) pairs sorted by expert, split
 * into one contiguous group per expert, each group through its expert, scaled and scatter-added back.
 */
export function sparseMoe(g: GraphBuilder, ctx: GraphContext, x: Tensor, layer: number): Tensor {
  const { experts, expertsPerToken } = ctx.config;
  const { routingWeights, choices } = route(g, ctx, x, layer);
  const [, order] = g.node(
    "TopK",
    [g.cast(choices, "float32"), g.op("Shape", [choices])],
    { axis: -1, largest: 0, sorted: 1 },
    { outputs: 2 },
  ); // [T · k]: the choices, ordered by expert
  const tokenOfChoice = g.op("Div", [order, g.ints([expertsPerToken])]);
  const sortedRows = g.op("Gather", [x, tokenOfChoice]); // [T · k, hidden]
  const sortedWeights = g.op("Gather", [g.op("Reshape", [routingWeights, g.ints([-1])]), order]); // [T · k]
  const expertIds = g.constant(
    "int64",
    [experts, 1],
    Array.from({ length: experts }, (_, e) => e),
  );
  const rowsPerExpert = g.op(
    "ReduceSum",
    [g.cast(g.op("Equal", [g.op("Unsqueeze", [choices, g.ints([0])]), expertIds]), "int64"), g.ints([1])],
    { keepdims: 0 },
  ); // [experts]
  const groups = g.node("Split", [sortedRows, rowsPerExpert], { axis: 0 }, { outputs: experts });
  const names = tensorNames.layer(layer);
  const outputs = groups.map((rows, e) => swiglu(g, ctx, rows, names.expert(e)));
  const scaled = g.op("Mul", [g.op("Concat", outputs, { axis: 0 }), g.op("Unsqueeze", [sortedWeights, g.ints([1])])]);
  // Expand, not ConstantOfShape: WebGPU has no ConstantOfShape kernel, and a CPU-made [T, hidden] of zeros would be uploaded per layer.
  const zeros = g.op("Expand", [g.scalar(0), g.op("Shape", [x])]);
  return g.op("ScatterND", [zeros, g.op("Unsqueeze", [tokenOfChoice, g.ints([1])]), scaled], { reduction: "add" }); // [T, hidden]
}

/** The router's top k experts of each token: their routing weights [T, k] (renormalised) and ids [T · k]. */
function route(
  g: GraphBuilder,
  ctx: GraphContext,
  x: Tensor,
  layer: number,
): { routingWeights: Tensor; choices: Tensor } {
  const { experts, expertsPerToken } = ctx.config;
  const { weights } = ctx;
  const router = tensorNames.layer(layer).router;
  const logits = weights.linear(g, x, router, [router], weights.precision.router, graphIo.routerLogits(layer));
  g.output(graphIo.routerLogits(layer), "float32", ["T", experts]);
  const [topValues, topIndices] = g.node(
    "TopK",
    [g.op("Softmax", [logits], { axis: -1 }), g.ints([expertsPerToken])],
    { axis: -1 },
    { outputs: 2 },
  ); // [T, k]
  const routingWeights = g.op("Div", [topValues, g.op("ReduceSum", [topValues, g.ints([-1])], { keepdims: 1 })]);
  const choices = g.op("Reshape", [topIndices, g.ints([-1])]);
  return { routingWeights, choices };
}
