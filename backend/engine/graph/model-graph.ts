import { readWeight, storedBytes, type Checkpoint } from "../checkpoint/checkpoint.ts";
import type { ModelConfig } from "../checkpoint/config.ts";
import type { KvCacheDtype } from "../kv-pool.ts";
import { tensorNames } from "../checkpoint/tensor-names.ts";
import { GraphBuilder } from "./onnx-builder.ts";
import {
  quantGroupSizeFor,
  quantizationBits,
  quantizeBlockwise,
  type QuantGroupSize,
  type Quantization,
} from "./quantize.ts";

/**
 * The graph's feeds and fetches. One run serves a whole step: T new tokens from B sequences
 * (rows), each row padded to L tokens for attention, attending to P = blocks × blockSize cached
 * positions read straight from the per-layer block pools through each row's block table.
 */
export const graphIo = {
  inputsEmbeds: "inputs_embeds", // float [T, hidden]: each token's embedding row, gathered outside the graph (TensorRows)
  positions: "positions", // int64 [T]
  padIndex: "pad_index", // int64 [B*L]: token index for each padded slot (padding points at any token)
  unpadIndex: "unpad_index", // int64 [T]: padded slot of each token
  blockTables: "block_tables", // int64 [B, blocks]: pool blocks holding each row's cached positions, in order
  attentionBias: "attention_bias", // float [B, 1, L, P+L]: 0 where a query may see a key, -1e30 elsewhere
  logitRows: "logit_rows", // int64 [R]: tokens whose logits are wanted
  drawRows: "draw_rows", // int64 [D]: the logits rows whose next token the graph draws
  drawScale: "draw_scale", // float [D]: 1 / temperature of each draw, 0 = greedy
  drawUniform: "draw_uniform", // float [D]: each draw's uniform number in [0, 1)
  keyCache: (layer: number) => `key_cache_${layer}`, // [kvHeads, poolBlocks, blockSize, headDim] in the cache's dtype, rotated keys
  valueCache: (layer: number) => `value_cache_${layer}`,
  logits: "logits", // float [R, vocab]
  drawnTokens: "drawn_tokens", // int64 [D]: the token drawn for each of draw_rows
  hidden: "hidden", // float [T, hidden]: final-norm hidden states
  newKey: (layer: number) => `new_key_${layer}`, // [T, kvHeads, headDim] in the cache's dtype, rotated
  newValue: (layer: number) => `new_value_${layer}`,
  routerLogits: (layer: number) => `router_logits_${layer}`, // float [T, experts]
} as const;

export interface GraphOptions {
  quantize?: Quantization;
  /** Weights per quantisation scale (default: quantGroupSizeFor the precision). */
  quantGroupSize?: QuantGroupSize;
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (about 2x faster). */
  accuracyLevel?: number;
  /** What the KV pool stores (default float32). */
  kvCacheDtype?: KvCacheDtype;
  onProgress?: (done: number, total: number) => void;
}

/** HF's RoPE tables, computed in float32 like transformers does (inv_freq, then position × inv_freq). */
function ropeTables(config: ModelConfig): { cos: Float32Array; sin: Float32Array; half: number } {
  const half = config.headDim / 2;
  const cos = new Float32Array(config.maxPositions * half);
  const sin = new Float32Array(config.maxPositions * half);
  const inverse = Array.from({ length: half }, (_, i) =>
    Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / config.headDim))),
  );
  for (let position = 0; position < config.maxPositions; position++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(position * inverse[i]);
      cos[position * half + i] = Math.cos(angle);
      sin[position * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, half };
}

/** Builds the whole model from the token embeddings on (decoder layers → final norm → lm_head) as one graph. */
export function buildModelGraph(checkpoint: Checkpoint, g: GraphBuilder, options: GraphOptions = {}): void {
  const config = checkpoint.config;
  const { hiddenSize, heads, kvHeads, headDim, vocabSize, ffnSize, experts, expertsPerToken } = config;
  const group = heads / kvHeads;
  // The token embedding is read outside the graph (TensorRows) unless the lm_head shares it.
  const totalBytes =
    storedBytes(checkpoint) - (config.tiedEmbeddings ? 0 : checkpoint.tensors.get(tensorNames.embedding)!.byteLength);
  let doneBytes = 0;
  const read = (name: string): Float32Array => {
    const data = readWeight(checkpoint, name);
    doneBytes += checkpoint.tensors.get(name)!.byteLength;
    options.onProgress?.(doneBytes, totalBytes);
    return data;
  };

  // One group size for every quantised matrix of the run, 8-bit parts of an int4 run included.
  const groupSize = options.quantize && quantGroupSizeFor(options.quantize, options.quantGroupSize);
  /** y = x Wᵀ for an HF Linear weight [n, k]: Gemm in fp32, MatMulNBits when quantised; `output` names y. */
  const linear = (
    x: string,
    name: string,
    weight: Float32Array,
    n: number,
    k: number,
    quantize = options.quantize,
    output?: string,
  ): string => {
    const outputs = output ? { outputs: [output] } : {};
    if (!quantize || groupSize === undefined || k % groupSize !== 0)
      return g.node("Gemm", [x, g.weight(name, "float32", [n, k], weight)], { transB: 1 }, outputs)[0];
    const bits = quantizationBits[quantize];
    const q = quantizeBlockwise(weight, n, k, bits, groupSize);
    const codes = g.weight(`${name}.codes`, "uint8", [n, q.blocks, q.blobBytes], q.codes);
    const scales = g.weight(`${name}.scales`, "float32", [n * q.blocks], q.scales);
    return g.node(
      "MatMulNBits",
      [x, codes, scales],
      { K: k, N: n, bits, block_size: groupSize, accuracy_level: options.accuracyLevel ?? 4 },
      { ...outputs, domain: "com.microsoft" },
    )[0];
  };
  const rmsNorm = (x: string, name: string, output?: string): string =>
    g.node(
      "SimplifiedLayerNormalization",
      [x, g.weight(name, "float32", [hiddenSize], read(name))],
      { axis: -1, epsilon: { float: config.rmsNormEps } },
      output ? { outputs: [output] } : {},
    )[0];
  /** down(silu(gate x) · up x) on [rows, hidden], with gate|up fused into one projection. */
  const swiglu = (x: string, names: { prefix: string; gate: string; up: string; down: string }): string => {
    const gateUp = linear(
      x,
      `${names.prefix}.gate_up`,
      concatRows(read(names.gate), read(names.up)),
      2 * ffnSize,
      hiddenSize,
    );
    const [gate, up] = g.node("Split", [gateUp, g.ints([ffnSize, ffnSize])], { axis: -1 }, { outputs: 2 });
    return linear(
      g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]),
      `${names.prefix}.down`,
      read(names.down),
      hiddenSize,
      ffnSize,
    );
  };

  /**
   * q|k|v of one layer in one projection, except under int4: there the keys and values keep 8 bits
   * (one more projection and a Concat), as llama.cpp's Q4_0 does for 8-expert models. Every later
   * attention score reads them, and they are a small share of the bytes a token reads.
   */
  const queryKeyValue = (x: string, layer: number): string => {
    const names = tensorNames.layer(layer);
    const prefix = `${names.prefix}.self_attn`;
    const kvWidth = 2 * kvHeads * headDim;
    if (options.quantize !== "int4")
      return linear(
        x,
        `${prefix}.qkv`,
        concatRows(read(names.query), read(names.key), read(names.value)),
        heads * headDim + kvWidth,
        hiddenSize,
      );
    const queries = linear(x, `${prefix}.q`, read(names.query), heads * headDim, hiddenSize);
    const keysValues = linear(
      x,
      `${prefix}.kv`,
      concatRows(read(names.key), read(names.value)),
      kvWidth,
      hiddenSize,
      "int8",
    );
    return g.op("Concat", [queries, keysValues], { axis: -1 });
  };

  g.scope = "inputs";
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

  const rope = ropeTables(config);
  const cosCache = g.weight("rope.cos", "float32", [config.maxPositions, rope.half], rope.cos);
  const sinCache = g.weight("rope.sin", "float32", [config.maxPositions, rope.half], rope.sin);
  const positionIds = g.op("Unsqueeze", [positions, g.ints([0])]);
  /** HF rotate_half RoPE on [T, n·headDim] → [T, n, headDim], as one contrib node (the step's tokens as one batch row at their own positions). */
  const rotate = (x: string, n: number): string => {
    const rotated = g.op(
      "RotaryEmbedding",
      [g.op("Unsqueeze", [x, g.ints([0])]), positionIds, cosCache, sinCache],
      { interleaved: 0, num_heads: n },
      "com.microsoft",
    );
    return g.op("Reshape", [rotated, g.ints([-1, n, headDim])]);
  };
  const float16Cache = options.kvCacheDtype === "float16";
  const cacheType = float16Cache ? "float16" : "float32";
  /**
   * A float16 cache: the step's new keys or values as the output the pool stores, and back in
   * float32 for this step's attention, so a position reads the same rounded values in the step
   * that computes it as in every later step (prefix-cached or not, the same outputs).
   */
  const stored = (x: string, output: string): string => g.cast(g.cast(x, "float16", output), "float32");
  /** [T, ...rest] → [B, L, ...rest] through the pad index. */
  const padded = (x: string, rest: number[]): string =>
    g.op("Reshape", [g.op("Gather", [x, padIndex]), g.op("Concat", [g.ints([-1]), dimL, g.ints(rest)], { axis: 0 })]);
  const transposedLast = (x: string): string => g.op("Transpose", [x], { perm: [0, 1, 3, 2] });

  /**
   * Grouped-query attention of the step's tokens over [cached ‖ new] keys. The cached keys and
   * values are gathered from the layer's block pools by block table inside the graph (no copy in
   * JS); the new ones come from this step. Scores against both parts are concatenated for one
   * softmax, so the cached keys are never concatenated with the new ones.
   */
  const attention = (x: string, layer: number): string => {
    const names = tensorNames.layer(layer);
    const qkv = queryKeyValue(x, layer); // [T, (heads + 2 kvHeads) · headDim]
    const [queriesKeys, values] = g.node(
      "Split",
      [qkv, g.ints([(heads + kvHeads) * headDim, kvHeads * headDim])],
      { axis: -1 },
      { outputs: 2 },
    );
    // Queries and keys rotate together: one RoPE node over the q|k heads.
    const [queries, rotatedKeys] = g.node(
      "Split",
      [rotate(queriesKeys, heads + kvHeads), g.ints([heads, kvHeads])],
      { axis: 1 },
      {
        outputs: [
          `${names.prefix}.rotated_queries`,
          float16Cache ? `${names.prefix}.rotated_keys` : graphIo.newKey(layer),
        ],
      },
    );
    const reshapedValues = g.node(
      "Reshape",
      [values, g.ints([-1, kvHeads, headDim])],
      {},
      { outputs: [float16Cache ? `${names.prefix}.new_values` : graphIo.newValue(layer)] },
    )[0];
    const newKeys = float16Cache ? stored(rotatedKeys, graphIo.newKey(layer)) : rotatedKeys;
    const newValues = float16Cache ? stored(reshapedValues, graphIo.newValue(layer)) : reshapedValues;
    g.output(graphIo.newKey(layer), cacheType, ["T", kvHeads, headDim]);
    g.output(graphIo.newValue(layer), cacheType, ["T", kvHeads, headDim]);

    // Each kv head's query heads stacked as rows: [kvHeads, B, group · L, headDim].
    const scaled = g.op("Mul", [queries, g.scalar(1 / Math.sqrt(headDim))]);
    const groupedQueries = g.op("Reshape", [
      g.op("Transpose", [padded(scaled, [kvHeads, group, headDim])], { perm: [2, 0, 3, 1, 4] }),
      g.ints([kvHeads, 0, -1, headDim]),
    ]);
    const stepKeys = g.op("Transpose", [padded(newKeys, [kvHeads, headDim])], { perm: [2, 0, 1, 3] }); // [kvHeads, B, L, headDim]
    const stepValues = g.op("Transpose", [padded(newValues, [kvHeads, headDim])], { perm: [2, 0, 1, 3] });
    const cached = (pool: string) => {
      const blocks = g.op("Gather", [pool, blockTables], { axis: 1 });
      return g.op("Reshape", [float16Cache ? g.cast(blocks, "float32") : blocks, g.ints([kvHeads, 0, -1, headDim])]); // [kvHeads, B, P, headDim]
    };
    const cachedKeys = cached(
      g.input(graphIo.keyCache(layer), cacheType, [kvHeads, "poolBlocks", "blockSize", headDim]),
    );
    const cachedValues = cached(
      g.input(graphIo.valueCache(layer), cacheType, [kvHeads, "poolBlocks", "blockSize", headDim]),
    );

    const scores = g.op(
      "Concat",
      [
        g.op("MatMul", [groupedQueries, transposedLast(cachedKeys)]),
        g.op("MatMul", [groupedQueries, transposedLast(stepKeys)]),
      ],
      { axis: -1 },
    ); // [kvHeads, B, group · L, P + L]
    const biased = g.op("Add", [
      g.op("Reshape", [scores, g.op("Concat", [g.ints([kvHeads, 0, group]), dimL, g.ints([-1])], { axis: 0 })]),
      bias,
    ]);
    const probabilities = g.op("Reshape", [
      g.op("Softmax", [biased], { axis: -1 }),
      g.op("Concat", [g.ints([kvHeads, 0, -1]), dimPL], { axis: 0 }),
    ]);
    const [cachedProbabilities, stepProbabilities] = g.node(
      "Split",
      [probabilities, pastAndNew],
      { axis: -1 },
      { outputs: 2 },
    );
    const context = g.op("Add", [
      g.op("MatMul", [cachedProbabilities, cachedValues]),
      g.op("MatMul", [stepProbabilities, stepValues]),
    ]); // [kvHeads, B, group · L, headDim]
    const perToken = g.op("Transpose", [g.op("Reshape", [context, g.ints([kvHeads, 0, group, -1, headDim])])], {
      perm: [1, 3, 0, 2, 4],
    }); // [B, L, kvHeads, group, headDim]
    const flat = g.op("Gather", [g.op("Reshape", [perToken, g.ints([-1, heads * headDim])]), unpadIndex]); // [T, heads · headDim]
    return linear(flat, `${names.prefix}.self_attn.o_proj`, read(names.output), hiddenSize, heads * headDim);
  };

  /**
   * Mixtral's sparse MoE inside the graph: the step's (token, choice) pairs sorted by expert, split
   * into one contiguous group per expert, each group through its expert, scaled and scatter-added back.
   */
  const sparseMoe = (x: string, layer: number): string => {
    const names = tensorNames.layer(layer);
    const router = g.node(
      "Gemm",
      [x, g.weight(names.router, "float32", [experts, hiddenSize], read(names.router))],
      { transB: 1 },
      { outputs: [graphIo.routerLogits(layer)] },
    )[0];
    g.output(graphIo.routerLogits(layer), "float32", ["T", experts]);
    const [topValues, topIndices] = g.node(
      "TopK",
      [g.op("Softmax", [router], { axis: -1 }), g.ints([expertsPerToken])],
      { axis: -1 },
      { outputs: 2 },
    ); // [T, k]
    const routingWeights = g.op("Div", [topValues, g.op("ReduceSum", [topValues, g.ints([-1])], { keepdims: 1 })]);
    const choices = g.op("Reshape", [topIndices, g.ints([-1])]); // [T · k] expert ids
    const [, order] = g.node(
      "TopK",
      [g.cast(choices, "float32"), g.op("Shape", [choices])],
      { axis: -1, largest: 0, sorted: 1 },
      { outputs: 2 },
    );
    const tokenOfChoice = g.op("Div", [order, g.ints([expertsPerToken])]);
    const sortedRows = g.op("Gather", [x, tokenOfChoice]);
    const sortedWeights = g.op("Gather", [g.op("Reshape", [routingWeights, g.ints([-1])]), order]);
    const expertIds = g.constant(
      "int64",
      [experts, 1],
      Array.from({ length: experts }, (_, e) => e),
    );
    const rowsPerExpert = g.op(
      "ReduceSum",
      [g.cast(g.op("Equal", [g.op("Unsqueeze", [choices, g.ints([0])]), expertIds]), "int64"), g.ints([1])],
      { keepdims: 0 },
    );
    const groups = g.node("Split", [sortedRows, rowsPerExpert], { axis: 0 }, { outputs: experts });
    const outputs = groups.map((rows, e) => swiglu(rows, names.expert(e)));
    const scaled = g.op("Mul", [g.op("Concat", outputs, { axis: 0 }), g.op("Unsqueeze", [sortedWeights, g.ints([1])])]);
    const zeros = g.op("ConstantOfShape", [g.op("Shape", [x])]);
    return g.op("ScatterND", [zeros, g.op("Unsqueeze", [tokenOfChoice, g.ints([1])]), scaled], { reduction: "add" });
  };

  let x = g.input(graphIo.inputsEmbeds, "float32", ["T", hiddenSize]);
  for (let layer = 0; layer < config.layers; layer++) {
    const names = tensorNames.layer(layer);
    g.scope = "attention";
    x = g.op("Add", [x, attention(rmsNorm(x, names.inputNorm), layer)]);
    g.scope = experts > 0 ? "moe" : "mlp";
    const normed = rmsNorm(x, names.postAttentionNorm);
    x = g.op("Add", [x, experts > 0 ? sparseMoe(normed, layer) : swiglu(normed, names.mlp)]);
  }

  g.scope = "lm_head";
  const final = rmsNorm(x, tensorNames.finalNorm, graphIo.hidden);
  g.output(graphIo.hidden, "float32", ["T", hiddenSize]);
  const rowsForLogits = g.op("Gather", [final, logitRows]);
  // The lm_head keeps 8 bits under int4: it is one matrix and the logits are what users see.
  const headQuantize = options.quantize ? "int8" : undefined;
  if (config.tiedEmbeddings) {
    const embedding = g.weight(tensorNames.embedding, "float32", [vocabSize, hiddenSize], read(tensorNames.embedding));
    g.node("Gemm", [rowsForLogits, embedding], { transB: 1 }, { outputs: [graphIo.logits] });
  } else
    linear(rowsForLogits, "lm_head", read(tensorNames.lmHead), vocabSize, hiddenSize, headQuantize, graphIo.logits);
  g.output(graphIo.logits, "float32", ["R", vocabSize]);
  drawTokens(g);
}

/**
 * Draws the next token of the logits rows listed in draw_rows inside the graph, so a step whose
 * sequences need nothing but the token fetches ids instead of vocabulary-sized logits and scans
 * nothing in JS: the argmax where the scale is 0, else the first token whose cumulative
 * softmax(logits · scale) passes uniform × total (inverse-CDF sampling, what the JS sampler does
 * without top_p). Only the listed rows are touched: with none (evaluation), the block costs nothing.
 */
function drawTokens(g: GraphBuilder): void {
  g.scope = "draw";
  const rows = g.op("Gather", [graphIo.logits, g.input(graphIo.drawRows, "int64", ["D"])], { axis: 0 }); // [D, vocab]
  const scale = g.input(graphIo.drawScale, "float32", ["D"]);
  const uniform = g.input(graphIo.drawUniform, "float32", ["D"]);
  const column = (x: string) => g.op("Unsqueeze", [x, g.ints([1])]);
  const cumulative = g.op("CumSum", [g.op("Softmax", [g.op("Mul", [rows, column(scale)])], { axis: -1 }), g.ints([1])]); // [D, vocab]
  const total = g.op("Gather", [cumulative, g.ints([-1])], { axis: 1 }); // [D, 1]
  const passed = g.cast(g.op("Greater", [cumulative, g.op("Mul", [column(uniform), total])]), "float32");
  const sampled = g.op("ArgMax", [passed], { axis: 1, keepdims: 0 });
  const greedy = g.op("ArgMax", [rows], { axis: 1, keepdims: 0 });
  g.node("Where", [g.op("Equal", [scale, g.scalar(0)]), greedy, sampled], {}, { outputs: [graphIo.drawnTokens] });
  g.output(graphIo.drawnTokens, "int64", ["D"]);
}

function concatRows(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
