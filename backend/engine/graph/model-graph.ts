import type { Checkpoint } from "../checkpoint/checkpoint.ts";
import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { KvCacheDtype, KvPoolPlace } from "../../options.ts";
import { attention } from "./attention.ts";
import { drawTokens } from "./draw-tokens.ts";
import type { GraphContext } from "./graph-context.ts";
import { graphIo } from "./graph-io.ts";
import { swiglu } from "./mlp.ts";
import { sparseMoe } from "./moe.ts";
import { rmsNorm } from "./norm.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";
import { ropeInputs } from "./rope.ts";
import { stepInputs } from "./step-inputs.ts";
import { ModelWeights, type WeightOptions } from "./weights.ts";

export interface GraphOptions extends WeightOptions {
  /** What the KV pool stores (default float32). */
  kvCacheDtype?: KvCacheDtype;
  /** Where the KV pool lives, which decides who writes it (default host). */
  kvPool?: KvPoolPlace;
}

/** Builds the whole model from the token embeddings on (decoder layers → final norm → lm_head) as one graph. */
export async function buildModelGraph(
  checkpoint: Checkpoint,
  g: GraphBuilder,
  options: GraphOptions = {},
): Promise<void> {
  const { config } = checkpoint;
  const inputs = g.scoped("inputs");
  const kvPool = options.kvPool ?? "host";
  const kvCacheDtype = options.kvCacheDtype ?? "float32";
  const step = stepInputs(inputs, config, kvPool, kvCacheDtype);
  const ctx: GraphContext = {
    config,
    weights: new ModelWeights(checkpoint, options),
    step,
    rope: ropeInputs(inputs, config, step.positions),
    kvCacheDtype,
    kvPool,
  };

  const attn = g.scoped("attention");
  const ffn = g.scoped(config.experts > 0 ? "moe" : "mlp");
  const feedForward = (x: Tensor, layer: number): Tensor =>
    config.experts > 0 ? sparseMoe(ffn, ctx, x, layer) : swiglu(ffn, ctx, x, tensorNames.layer(layer).mlp);
  let x = g.input(graphIo.inputsEmbeds, "float32", ["T", config.hiddenSize]); // [T, hidden]
  for (let layer = 0; layer < config.layers; layer++) {
    const names = tensorNames.layer(layer);
    x = attn.op("Add", [x, attention(attn, ctx, rmsNorm(attn, ctx, x, names.inputNorm), layer)]);
    x = ffn.op("Add", [x, feedForward(rmsNorm(ffn, ctx, x, names.postAttentionNorm), layer)]);
  }

  const head = g.scoped("lm_head");
  const final = rmsNorm(head, ctx, x, tensorNames.finalNorm, graphIo.hidden); // [T, hidden]
  head.output(graphIo.hidden, "float32", ["T", config.hiddenSize]);
  const rowsForLogits = head.op("Gather", [final, step.logitRows]); // [R, hidden]
  const [name, weight] = config.tiedEmbeddings
    ? [tensorNames.embedding, tensorNames.embedding]
    : ["lm_head", tensorNames.lmHead];
  ctx.weights.linear(head, rowsForLogits, name, [weight], ctx.weights.precision.lmHead, graphIo.logits);
  head.output(graphIo.logits, "float32", ["R", config.vocabSize]);
  drawTokens(g.scoped("draw"));
  await ctx.weights.complete(g);
}
