import { readWeight, storedBytes, type Checkpoint } from "../checkpoint/checkpoint.ts";
import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";
import type { QuantGroupSize, Quantization } from "../../options.ts";
import { quantGroupSizeFor, quantizationBits, quantizeBlockwise } from "./quantize.ts";
import { encodeNative, nativeLayoutKey } from "./native-quant.ts";
import type { TensorEntry } from "../checkpoint/safetensors.ts";

export interface WeightOptions {
  quantize?: Quantization;
  /** Weights per quantisation scale (default: quantGroupSizeFor the precision). */
  quantGroupSize?: QuantGroupSize;
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (about 2x faster). */
  accuracyLevel?: number;
  onProgress?: (done: number, total: number) => void;
}

/** How a matrix is stored in the graph: as float32 (a Gemm), or quantised for MatMulNBits. */
export type Precision = Quantization | "float32";

/** The precision of each kind of matrix (norm weights and the RoPE tables are always float32). */
export interface PrecisionPolicy {
  /** Queries, attention output, MLP and expert projections: the precision asked for. */
  projections: Precision;
  /**
   * Keys and values keep 8 bits under int4, as llama.cpp's Q4_0 does for 8-expert models: every
   * later attention score reads them, and they are a small share of the bytes a token reads.
   */
  keysValues: Precision;
  /** Mixtral's router stays float32. */
  router: Precision;
  /** The lm_head keeps 8 bits under int4: it is one matrix and the logits are what users see. A tied embedding stays float32. */
  lmHead: Precision;
}

function precisionPolicy(quantize: Quantization | undefined, tiedEmbeddings: boolean): PrecisionPolicy {
  const asked = quantize ?? "float32";
  return {
    projections: asked,
    keysValues: quantize === "int4" ? "int8" : asked,
    router: "float32",
    lmHead: quantize && !tiedEmbeddings ? "int8" : "float32",
  };
}

/**
 * The checkpoint's weights as the graph stores them: each tensor read once as float32 (reporting
 * the bytes done through onProgress) and written at the precision its kind gets.
 */
export class ModelWeights {
  readonly precision: PrecisionPolicy;
  /** One group size for every quantised matrix of the run, 8-bit parts of an int4 run included. */
  private readonly groupSize?: QuantGroupSize;
  private readonly totalBytes: number;
  private doneBytes = 0;

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly options: WeightOptions,
  ) {
    const { config } = checkpoint;
    this.precision = precisionPolicy(options.quantize, config.tiedEmbeddings);
    this.groupSize = options.quantize && quantGroupSizeFor(options.quantize, options.quantGroupSize);
    // The token embedding is read outside the graph (TensorRows) unless the lm_head shares it.
    this.totalBytes =
      storedBytes(checkpoint) - (config.tiedEmbeddings ? 0 : checkpoint.tensors.get(tensorNames.embedding)!.byteLength);
  }

  /** A checkpoint tensor as float32, counted towards the progress. */
  read(name: string): Float32Array {
    const data = readWeight(this.checkpoint, name);
    this.count(this.entry(name));
    return data;
  }

  /** A checkpoint vector (a norm's weight) as a float32 weight under its own name. */
  vector(g: GraphBuilder, name: string): Tensor {
    return g.weight(name, "float32", this.shape(name), this.read(name));
  }

  /**
   * y = x Wᵀ, where W [n, k] is the HF Linear weights `from` stacked by rows (one projection for
   * several): a Gemm in float32, MatMulNBits when quantised and k is a whole number of groups.
   * A GGUF's quantised parts keep the file's own quantisation, exactly (native-quant.ts); parts
   * held in different layouts (Q4_K queries, Q6_K values) are projected apart and concatenated.
   * The weight is stored under `name`; `output` names y.
   */
  linear(g: GraphBuilder, x: Tensor, name: string, from: string[], precision: Precision, output?: string): Tensor {
    const outputs = output ? { outputs: [output] } : {};
    const parts = from.map((part) => this.entry(part));
    const runs = layoutRuns(parts);
    if (runs.length > 1) {
      const pieces = runs.map((run, index) => this.linear(g, x, `${name}.${index}`, run, precision));
      return g.node("Concat", pieces, { axis: -1 }, outputs)[0];
    }
    if (nativeLayoutKey(parts[0]) !== null) return this.nativeLinear(g, x, name, parts, outputs);
    const k = parts[0].shape[1];
    const n = parts.reduce((rows, part) => rows + part.shape[0], 0);
    const weight = from.length === 1 ? this.read(from[0]) : concatRows(from.map((part) => this.read(part)));
    const groupSize = this.groupSize;
    if (precision === "float32" || groupSize === undefined || k % groupSize !== 0)
      return g.node("Gemm", [x, g.weight(name, "float32", [n, k], weight)], { transB: 1 }, outputs)[0];
    const bits = quantizationBits[precision];
    const q = quantizeBlockwise(weight, n, k, bits, groupSize);
    const codes = g.weight(`${name}.codes`, "uint8", [n, q.blocks, q.blobBytes], q.codes);
    const scales = g.weight(`${name}.scales`, "float32", [n * q.blocks], q.scales);
    return g.node(
      "MatMulNBits",
      [x, codes, scales],
      { K: k, N: n, bits, block_size: groupSize, accuracy_level: this.options.accuracyLevel ?? 4 },
      { ...outputs, domain: "com.microsoft" },
    )[0];
  }

  /** y = x Wᵀ for GGUF-quantised parts: MatMulNBits with the file's codes, plus Σx·correction where needed. */
  private nativeLinear(
    g: GraphBuilder,
    x: Tensor,
    name: string,
    parts: TensorEntry[],
    outputs: { outputs?: string[] },
  ) {
    const q = encodeNative(parts);
    for (const part of parts) this.count(part);
    const k = parts[0].shape[1];
    const n = parts.reduce((rows, part) => rows + part.shape[0], 0);
    const inputs = [
      x,
      g.weight(`${name}.codes`, "uint8", [n, q.blocks, q.blobBytes], q.codes),
      g.weight(`${name}.scales`, "float32", [n * q.blocks], q.scales),
    ];
    const attributes = {
      K: k,
      N: n,
      bits: q.bits,
      block_size: q.block,
      accuracy_level: this.options.accuracyLevel ?? 4,
    };
    if (!q.correction) return g.node("MatMulNBits", inputs, attributes, { ...outputs, domain: "com.microsoft" })[0];
    const product = g.op("MatMulNBits", inputs, attributes, "com.microsoft"); // [T, n]
    // Σx per block as a MatMul by ones: ORT's ReduceSum returns an empty input unreduced, and an
    // expert that no token chose this step gets an empty one.
    const ones = g.constant("float32", [q.block, 1], new Array<number>(q.block).fill(1));
    const blockSums = g.op("Reshape", [
      g.op("MatMul", [g.op("Reshape", [x, g.ints([-1, q.block])]), ones]),
      g.ints([-1, q.blocks]),
    ]); // [T, blocks]
    const correction = g.weight(`${name}.correction`, "float32", [n, q.blocks], q.correction);
    return g.node("Add", [product, g.op("Gemm", [blockSums, correction], { transB: 1 })], {}, outputs)[0];
  }

  private entry(name: string): TensorEntry {
    return this.checkpoint.tensors.get(name)!;
  }

  private count(entry: TensorEntry): void {
    this.doneBytes += entry.byteLength;
    this.options.onProgress?.(this.doneBytes, this.totalBytes);
  }

  private shape(name: string): number[] {
    return this.checkpoint.tensors.get(name)!.shape;
  }
}

/** The parts in runs of one layout (consecutive, as the rows stack). */
function layoutRuns(parts: TensorEntry[]): string[][] {
  const runs: { key: string | null; names: string[] }[] = [];
  for (const part of parts) {
    const key = nativeLayoutKey(part);
    const last = runs[runs.length - 1];
    if (last && last.key === key) last.names.push(part.name);
    else runs.push({ key, names: [part.name] });
  }
  return runs.map((run) => run.names);
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
