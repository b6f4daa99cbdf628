import { graphIo } from "./graph-io.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/**
 * Draws the next token of the logits rows listed in draw_rows inside the graph, so a step whose
 * sequences need nothing but the token fetches ids instead of vocabulary-sized logits and scans
 * nothing in JS: the argmax where the scale is 0, else the first token whose cumulative
 * softmax(logits · scale) passes uniform × total (inverse-CDF sampling, what the JS sampler does
 * without top_p). Only the listed rows are touched: with none (evaluation), the block costs nothing.
 */
export function drawTokens(g: GraphBuilder): void {
  const rows = g.op("Gather", [graphIo.logits, g.input(graphIo.drawRows, "int64", ["D"])], { axis: 0 }); // [D, vocab]
  const scale = g.input(graphIo.drawScale, "float32", ["D"]);
  const uniform = g.input(graphIo.drawUniform, "float32", ["D"]);
  const column = (x: Tensor): Tensor => g.op("Unsqueeze", [x, g.ints([1])]);
  const cumulative = g.op("CumSum", [g.op("Softmax", [g.op("Mul", [rows, column(scale)])], { axis: -1 }), g.ints([1])]); // [D, vocab]
  const total = g.op("Gather", [cumulative, g.ints([-1])], { axis: 1 }); // [D, 1]
  const passed = g.cast(g.op("Greater", [cumulative, g.op("Mul", [column(uniform), total])]), "float32");
  const sampled = g.op("ArgMax", [passed], { axis: 1, keepdims: 0 });
  const greedy = g.op("ArgMax", [rows], { axis: 1, keepdims: 0 });
  g.node("Where", [g.op("Equal", [scale, g.scalar(0)]), greedy, sampled], {}, { outputs: [graphIo.drawnTokens] });
  g.output(graphIo.drawnTokens, "int64", ["D"]);
}
