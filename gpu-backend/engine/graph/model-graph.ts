import { readWeight, storedBytes, type Checkpoint } from "../checkpoint/checkpoint.ts";
import type { ModelConfig } from "../checkpoint/config.ts";
import { GraphBuilder } from "./onnx-builder.ts";
import { quantBlockSize, quantizationBits, quantizeBlockwise, type Quantization } from "./quantize.ts";

/**
 * The graph's feeds and fetches. One run serves a whole step: T new tokens from B sequences
 * (rows), each row padded to L tokens for attention, attending to P cached tokens fed per layer.
 */
export const graphIo = {
  inputIds: "input_ids", // int64 [T]
  positions: "positions", // int64 [T]
  padIndex: "pad_index", // int64 [B*L]: token index for each padded slot (padding points at any token)
  unpadIndex: "unpad_index", // int64 [T]: padded slot of each token
  attentionBias: "attention_bias", // float [B, 1, 1, L, P+L]: 0 where a query may see a key, -1e30 elsewhere
  logitRows: "logit_rows", // int64 [R]: tokens whose logits are wanted
  pastKey: (layer: number) => `past_key_${layer}`, // float [B, kvHeads, P, headDim]
  pastValue: (layer: number) => `past_value_${layer}`,
  logits: "logits", // float [R, vocab]
  hidden: "hidden", // float [T, hidden]: final-norm hidden states
  newKey: (layer: number) => `new_key_${layer}`, // float [T, kvHeads, headDim], rotated
  newValue: (layer: number) => `new_value_${layer}`,
  routerLogits: (layer: number) => `router_logits_${layer}`, // float [T, experts]
} as const;

export interface GraphOptions {
  quantize?: Quantization;
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (about 2x faster). */
  accuracyLevel?: number;
  onProgress?: (done: number, total: number) => void;
}

/** HF's RoPE tables, computed in float32 like transformers does (inv_freq, then position × inv_freq). */
function ropeTables(config: ModelConfig): { cos: Float32Array; sin: Float32Array; half: number } {
  const half = config.headDim / 2;
  const cos = new Float32Array(config.maxPositions * half);
  const sin = new Float32Array(config.maxPositions * half);
  const inverse = Array.from({ length: half }, (_, i) => Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / config.headDim))));
  for (let position = 0; position < config.maxPositions; position++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(position * inverse[i]);
      cos[position * half + i] = Math.cos(angle);
      sin[position * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, half };
}

/** Builds the whole model (embedding → decoder layers → final norm → lm_head) as one graph. */
export function buildModelGraph(checkpoint: Checkpoint, builder: GraphBuilder, options: GraphOptions = {}): void {
  const config = checkpoint.config;
  const { hiddenSize: h, heads, kvHeads, headDim: d, vocabSize: v, ffnSize: f } = config;
  const group = heads / kvHeads;
  const g = builder;
  const totalBytes = storedBytes(checkpoint);
  let doneBytes = 0;
  const read = (name: string): Float32Array => {
    const data = readWeight(checkpoint, name);
    doneBytes += checkpoint.tensors.get(name)!.byteLength;
    options.onProgress?.(doneBytes, totalBytes);
    return data;
  };
  const concatRows = (...parts: Float32Array[]): Float32Array => {
    const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  };

  /** y = x Wᵀ for an HF Linear weight [n, k]: Gemm in fp32, MatMulNBits when quantised. */
  const linear = (x: string, name: string, weight: Float32Array, n: number, k: number, quantize = options.quantize): string => {
    if (!quantize || k % quantBlockSize !== 0) return g.op("Gemm", [x, g.weight(name, "float32", [n, k], weight)], { transB: 1 });
    const bits = quantizationBits[quantize];
    const q = quantizeBlockwise(weight, n, k, bits);
    const codes = g.weight(`${name}.codes`, "uint8", [n, q.blocks, q.blobBytes], q.codes);
    const scales = g.weight(`${name}.scales`, "float32", [n * q.blocks], q.scales);
    return g.op("MatMulNBits", [x, codes, scales], { K: k, N: n, bits, block_size: quantBlockSize, accuracy_level: options.accuracyLevel ?? 4 }, "com.microsoft");
  };
  const rmsNorm = (x: string, name: string): string =>
    g.op("SimplifiedLayerNormalization", [x, g.weight(name, "float32", [h], read(name))], { axis: -1, epsilon: { float: config.rmsNormEps } });
  /** down(silu(gate x) * up x), with gate|up fused into one projection. */
  const swiglu = (x: string, name: string, [gateName, upName, downName]: string[]): string => {
    const gateUp = linear(x, `${name}.gate_up`, concatRows(read(gateName), read(upName)), 2 * f, h);
    const [gate, up] = g.node("Split", [gateUp, g.ints([f, f])], { axis: -1 }, { outputs: 2 });
    return linear(g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]), `${name}.down`, read(downName), h, f);
  };

  g.scope = "embedding";
  const ids = g.input(graphIo.inputIds, "int64", ["T"]);
  const positions = g.input(graphIo.positions, "int64", ["T"]);
  const padIndex = g.input(graphIo.padIndex, "int64", ["BL"]);
  const unpadIndex = g.input(graphIo.unpadIndex, "int64", ["T"]);
  const bias = g.input(graphIo.attentionBias, "float32", ["B", 1, 1, "L", "PL"]);
  const logitRows = g.input(graphIo.logitRows, "int64", ["R"]);

  // Dynamic sizes taken from the bias' shape, for the reshapes between flat and padded layouts.
  const biasShape = g.op("Shape", [bias]);
  const dimL = g.op("Slice", [biasShape, g.ints([3]), g.ints([4])]);
  const dimPL = g.op("Slice", [biasShape, g.ints([4]), g.ints([5])]);
  const scoresShape5d = g.op("Concat", [g.ints([0, 0, group]), dimL, g.ints([-1])], { axis: 0 });
  const scoresShape4d = g.op("Concat", [g.ints([0, 0, -1]), dimPL], { axis: 0 });

  const rope = ropeTables(config);
  const cosCache = g.weight("rope.cos", "float32", [config.maxPositions, rope.half], rope.cos);
  const sinCache = g.weight("rope.sin", "float32", [config.maxPositions, rope.half], rope.sin);
  const positionIds = g.op("Unsqueeze", [positions, g.ints([0])]);
  /** HF rotate_half RoPE on [T, n·d] as one contrib node (the step's tokens as one batch row at their own positions). */
  const rotate = (x: string, n: number): string =>
    g.op("Reshape", [g.op("RotaryEmbedding", [g.op("Unsqueeze", [x, g.ints([0])]), positionIds, cosCache, sinCache], { interleaved: 0, num_heads: n }, "com.microsoft"), g.ints([-1, n, d])]);
  /** [T, n, d] → [B, n, L, d] through the pad index. */
  const toPadded = (x: string, n: number): string => {
    const shape = g.op("Concat", [g.ints([-1]), dimL, g.ints([n, d])], { axis: 0 });
    return g.op("Transpose", [g.op("Reshape", [g.op("Gather", [x, padIndex]), shape])], { perm: [0, 2, 1, 3] });
  };

  const embedName = "model.embed_tokens.weight";
  const embed = g.weight(embedName, "float32", [v, h], read(embedName));
  let x = g.op("Gather", [embed, ids]);

  for (let layer = 0; layer < config.layers; layer++) {
    const p = `model.layers.${layer}`;
    g.scope = "attention";
    // Attention: one fused QKV projection, RoPE, then grouped attention over [past ‖ new] keys.
    const normed = rmsNorm(x, `${p}.input_layernorm.weight`);
    const qkvWeight = concatRows(read(`${p}.self_attn.q_proj.weight`), read(`${p}.self_attn.k_proj.weight`), read(`${p}.self_attn.v_proj.weight`));
    const qkv = linear(normed, `${p}.self_attn.qkv`, qkvWeight, (heads + 2 * kvHeads) * d, h);
    // Queries and keys rotate together: one RoPE node over the q|k heads.
    const [qk, vv] = g.node("Split", [qkv, g.ints([(heads + kvHeads) * d, kvHeads * d])], { axis: -1 }, { outputs: 2 });
    const [qRot, kRot] = g.node("Split", [rotate(qk, heads + kvHeads), g.ints([heads, kvHeads])], { axis: 1 }, { outputs: [`${p}.rotated_queries`, graphIo.newKey(layer)] });
    const vNew = g.node("Reshape", [vv, g.ints([-1, kvHeads, d])], {}, { outputs: [graphIo.newValue(layer)] })[0];
    g.output(graphIo.newKey(layer), "float32", ["T", kvHeads, d]);
    g.output(graphIo.newValue(layer), "float32", ["T", kvHeads, d]);

    const pastKey = g.input(graphIo.pastKey(layer), "float32", ["B", kvHeads, "P", d]);
    const pastValue = g.input(graphIo.pastValue(layer), "float32", ["B", kvHeads, "P", d]);
    const keys = g.op("Concat", [pastKey, toPadded(kRot, kvHeads)], { axis: 2 });
    const values = g.op("Concat", [pastValue, toPadded(vNew, kvHeads)], { axis: 2 });
    // Query heads of one kv group stacked as rows: [B, kvHeads, group*L, d], one matmul per kv head.
    const queries = g.op("Reshape", [g.op("Mul", [toPadded(qRot, heads), g.scalar(1 / Math.sqrt(d))]), g.ints([0, kvHeads, -1, d])]);
    const scores = g.op("MatMul", [queries, g.op("Transpose", [keys], { perm: [0, 1, 3, 2] })]);
    const biased = g.op("Add", [g.op("Reshape", [scores, scoresShape5d]), bias]);
    const probs = g.op("Reshape", [g.op("Softmax", [biased], { axis: -1 }), scoresShape4d]);
    const context = g.op("Reshape", [g.op("MatMul", [probs, values]), g.ints([0, heads, -1, d])]);
    const flat = g.op("Reshape", [g.op("Transpose", [context], { perm: [0, 2, 1, 3] }), g.ints([-1, heads * d])]);
    const attention = linear(g.op("Gather", [flat, unpadIndex]), `${p}.self_attn.o_proj`, read(`${p}.self_attn.o_proj.weight`), h, heads * d);
    x = g.op("Add", [x, attention]);

    g.scope = config.experts > 0 ? "moe" : "mlp";
    const normed2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    let mlp: string;
    if (config.experts > 0) {
      // Sparse MoE inside the graph: the step's (token, choice) pairs sorted by expert, split into one
      // contiguous group per expert, each group through its expert, scaled and scatter-added back.
      const gateName = `${p}.block_sparse_moe.gate.weight`;
      const router = g.node("Gemm", [normed2, g.weight(gateName, "float32", [config.experts, h], read(gateName))], { transB: 1 }, { outputs: [graphIo.routerLogits(layer)] })[0];
      g.output(graphIo.routerLogits(layer), "float32", ["T", config.experts]);
      const [topValues, topIndices] = g.node("TopK", [g.op("Softmax", [router], { axis: -1 }), g.ints([config.expertsPerToken])], { axis: -1 }, { outputs: 2 });
      const weights = g.op("Div", [topValues, g.op("ReduceSum", [topValues, g.ints([-1])], { keepdims: 1 })]);
      const choices = g.op("Reshape", [topIndices, g.ints([-1])]);
      const [, order] = g.node("TopK", [g.cast(choices, "float32"), g.op("Shape", [choices])], { axis: -1, largest: 0, sorted: 1 }, { outputs: 2 });
      const tokenOfChoice = g.op("Div", [order, g.ints([config.expertsPerToken])]);
      const sortedRows = g.op("Gather", [normed2, tokenOfChoice]);
      const sortedWeights = g.op("Gather", [g.op("Reshape", [weights, g.ints([-1])]), order]);
      const expertIds = g.constant("int64", [config.experts, 1], Array.from({ length: config.experts }, (_, e) => e));
      const counts = g.op("ReduceSum", [g.cast(g.op("Equal", [g.op("Unsqueeze", [choices, g.ints([0])]), expertIds]), "int64"), g.ints([1])], { keepdims: 0 });
      const parts = g.node("Split", [sortedRows, counts], { axis: 0 }, { outputs: config.experts });
      const outputs = parts.map((rows, e) => {
        const q = `${p}.block_sparse_moe.experts.${e}`;
        return swiglu(rows, q, [`${q}.w1.weight`, `${q}.w3.weight`, `${q}.w2.weight`]);
      });
      const scaled = g.op("Mul", [g.op("Concat", outputs, { axis: 0 }), g.op("Unsqueeze", [sortedWeights, g.ints([1])])]);
      const zeros = g.op("ConstantOfShape", [g.op("Shape", [normed2])]);
      mlp = g.op("ScatterND", [zeros, g.op("Unsqueeze", [tokenOfChoice, g.ints([1])]), scaled], { reduction: "add" });
    } else {
      mlp = swiglu(normed2, `${p}.mlp`, [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`, `${p}.mlp.down_proj.weight`]);
    }
    x = g.op("Add", [x, mlp]);
  }

  g.scope = "lm_head";
  const final = g.node("SimplifiedLayerNormalization", [x, g.weight("model.norm.weight", "float32", [h], read("model.norm.weight"))], { axis: -1, epsilon: { float: config.rmsNormEps } }, { outputs: [graphIo.hidden] })[0];
  g.output(graphIo.hidden, "float32", ["T", h]);
  const rowsForLogits = g.op("Gather", [final, logitRows]);
  // The lm_head keeps 8 bits under int4: it is one matrix and the logits are what users see.
  const headQuantize = options.quantize ? "int8" : undefined;
  if (config.tiedEmbeddings) g.node("Gemm", [rowsForLogits, embed], { transB: 1 }, { outputs: [graphIo.logits] });
  else g.node("Identity", [linear(rowsForLogits, "lm_head", read("lm_head.weight"), v, h, headQuantize)], {}, { outputs: [graphIo.logits] });
  g.output(graphIo.logits, "float32", ["R", v]);
}
