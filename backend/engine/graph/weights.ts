import { readWeight, storedBytes, type Checkpoint } from "../checkpoint/checkpoint.ts";
import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";
import type { QuantGroupSize, Quantization, WeightDtype } from "../../options.ts";
import { quantGroupSizeFor, quantizationBits } from "./quantize.ts";
import { nativeLayoutKey, nativeShape, needsCorrection } from "./native-quant.ts";
import { channelOrder, prequantizedLayoutKey, type ChannelOrder } from "./prequantized.ts";
import { runWeightJobs, type WeightJob } from "./weight-jobs.ts";
import type { TensorEntry } from "../checkpoint/safetensors.ts";

export interface WeightOptions {
  quantize?: Quantization;
  /** What the matrices not quantised are stored in (default float32). */
  dtype?: WeightDtype;
  /** Weights per quantisation scale (default: quantGroupSizeFor the precision). */
  quantGroupSize?: QuantGroupSize;
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (about 2x faster). */
  accuracyLevel?: number;
  onProgress?: (done: number, total: number) => void;
}

/** How a matrix is stored in the graph: as float32 or float16 (a Gemm), or quantised for MatMulNBits. */
export type Precision = Quantization | WeightDtype;

/** The precision of each kind of matrix (norm weights and the RoPE tables are always float32). */
export interface PrecisionPolicy {
  /** Queries, attention output, MLP and expert projections: the precision asked for. */
  projections: Precision;
  /**
   * Keys and values keep 8 bits under int4, as llama.cpp's Q4_0 does for 8-expert models: every
   * later attention score reads them, and they are a small share of the bytes a token reads.
   */
  keysValues: Precision;
  /** Mixtral's router stays float32: its few weights pick the experts. */
  router: Precision;
  /** The lm_head keeps 8 bits under int4: it is one matrix and the logits are what users see. A tied embedding is not quantised. */
  lmHead: Precision;
}

function precisionPolicy(
  quantize: Quantization | undefined,
  dtype: WeightDtype,
  tiedEmbeddings: boolean,
): PrecisionPolicy {
  const asked = quantize ?? dtype;
  return {
    projections: asked,
    keysValues: quantize === "int4" ? "int8" : asked,
    router: "float32",
    lmHead: quantize && !tiedEmbeddings ? "int8" : dtype,
  };
}

/**
 * The checkpoint's weights as the graph stores them, each at the precision its kind gets: the graph
 * reserves each matrix's place in the data file, and complete() computes them all, one job per
 * matrix on every core, reporting the checkpoint bytes done through onProgress.
 */
export class ModelWeights {
  readonly precision: PrecisionPolicy;
  /** One group size for every quantised matrix of the run, 8-bit parts of an int4 run included. */
  private readonly groupSize?: QuantGroupSize;
  private readonly totalBytes: number;
  private doneBytes = 0;
  /** Weights reserved in the graph, to be computed by complete(). */
  private readonly jobs: { job: WeightJob; bytes: number }[] = [];
  /** Activations gathered into a GPTQ act-order channel order, by input and order. */
  private readonly reorderedInputs = new Map<string, Tensor>();

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly options: WeightOptions,
  ) {
    const { config } = checkpoint;
    this.precision = precisionPolicy(options.quantize, options.dtype ?? "float32", config.tiedEmbeddings);
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
   * several): a Gemm in float32 or float16 (its input and output cast), MatMulNBits when quantised
   * and k is a whole number of groups (otherwise the matrix stays in the run's float dtype).
   * A GGUF's quantised parts keep the file's own quantisation, exactly (native-quant.ts), as do
   * GPTQ and AWQ Linears (prequantized.ts); parts held in different layouts (Q4_K queries, Q6_K
   * values) are projected apart and concatenated. The weight's bytes are only reserved here: a
   * job computes them later, on whichever thread is free (complete()).
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
    if (parts[0].packed) return this.prequantizedLinear(g, x, name, parts, outputs);
    if (nativeLayoutKey(parts[0]) !== null) return this.nativeLinear(g, x, name, parts, outputs);
    const k = parts[0].shape[1];
    const n = parts.reduce((rows, part) => rows + part.shape[0], 0);
    const groupSize = this.groupSize;
    if (precision === "float32" || precision === "float16")
      return this.floatLinear(g, x, name, parts, [n, k], precision, outputs);
    if (groupSize === undefined || k % groupSize !== 0)
      return this.floatLinear(g, x, name, parts, [n, k], this.options.dtype ?? "float32", outputs);
    const bits = quantizationBits[precision];
    const blocks = k / groupSize;
    const blobBytes = (groupSize * bits) / 8;
    const codes = g.reserve(`${name}.codes`, "uint8", [n, blocks, blobBytes], n * blocks * blobBytes);
    const scales = g.reserve(`${name}.scales`, "float32", [n * blocks], n * blocks * 4);
    this.submit({ kind: "quantize", parts, bits, groupSize, codes: codes.offset, scales: scales.offset });
    return g.node(
      "MatMulNBits",
      [x, codes.tensor, scales.tensor],
      { K: k, N: n, bits, block_size: groupSize, accuracy_level: this.accuracyLevel },
      { ...outputs, domain: "com.microsoft" },
    )[0];
  }

  /** y = x Wᵀ as a Gemm on W stored in `dtype`; under float16, x is cast in and y out (norms, softmax and attention stay float32). */
  private floatLinear(
    g: GraphBuilder,
    x: Tensor,
    name: string,
    parts: TensorEntry[],
    [n, k]: number[],
    dtype: WeightDtype,
    outputs: { outputs?: string[] },
  ): Tensor {
    const { tensor, offset } = g.reserve(name, dtype, [n, k], n * k * (dtype === "float16" ? 2 : 4));
    this.submit({ kind: "float", dtype, parts, offset });
    if (dtype === "float32") return g.node("Gemm", [x, tensor], { transB: 1 }, outputs)[0];
    const product = g.op("Gemm", [g.cast(x, "float16"), tensor], { transB: 1 });
    return g.cast(product, "float32", outputs.outputs?.[0]);
  }

  /** Computes every weight linear() reserved (on every core for a large checkpoint), reporting progress. */
  async complete(g: GraphBuilder): Promise<void> {
    await runWeightJobs(g.dataPath, this.jobs.splice(0), (bytes) => this.progress(bytes));
  }

  /** y = x Wᵀ for GGUF-quantised parts: MatMulNBits with the file's codes, plus Σx·correction where needed. */
  private nativeLinear(
    g: GraphBuilder,
    x: Tensor,
    name: string,
    parts: TensorEntry[],
    outputs: { outputs?: string[] },
  ) {
    const { bits, block, k, rows: n, blocks, blobBytes } = nativeShape(parts);
    const codes = g.reserve(`${name}.codes`, "uint8", [n, blocks, blobBytes], n * blocks * blobBytes);
    const scales = g.reserve(`${name}.scales`, "float32", [n * blocks], n * blocks * 4);
    const correction = needsCorrection(parts)
      ? g.reserve(`${name}.correction`, "float32", [n, blocks], n * blocks * 4)
      : null;
    this.submit({
      kind: "native",
      parts,
      codes: codes.offset,
      scales: scales.offset,
      correction: correction?.offset ?? null,
    });
    const inputs = [x, codes.tensor, scales.tensor];
    const attributes = { K: k, N: n, bits, block_size: block, accuracy_level: this.accuracyLevel };
    if (!correction) return g.node("MatMulNBits", inputs, attributes, { ...outputs, domain: "com.microsoft" })[0];
    const product = g.op("MatMulNBits", inputs, attributes, "com.microsoft"); // [T, n]
    // Σx per block as a MatMul by ones: ORT's ReduceSum returns an empty input unreduced, and an
    // expert that no token chose this step gets an empty one.
    const ones = g.constant("float32", [block, 1], new Array<number>(block).fill(1));
    const blockSums = g.op("Reshape", [
      g.op("MatMul", [g.op("Reshape", [x, g.ints([-1, block])]), ones]),
      g.ints([-1, blocks]),
    ]); // [T, blocks]
    return g.node("Add", [product, g.op("Gemm", [blockSums, correction.tensor], { transB: 1 })], {}, outputs)[0];
  }

  /** y = x Wᵀ for GPTQ/AWQ parts: MatMulNBits with the checkpoint's codes, scales and zero points. */
  private prequantizedLinear(
    g: GraphBuilder,
    x: Tensor,
    name: string,
    parts: TensorEntry[],
    outputs: { outputs?: string[] },
  ) {
    const k = parts[0].shape[1];
    const n = parts.reduce((rows, part) => rows + part.shape[0], 0);
    const { groupSize: block, symmetric } = parts[0].packed!.packing;
    const blocks = k / block;
    const order = channelOrder(parts[0]);
    const codes = g.reserve(`${name}.codes`, "uint8", [n, blocks, block / 2], (n * k) / 2);
    const scales = g.reserve(`${name}.scales`, "float32", [n * blocks], n * blocks * 4);
    const zeroBytes = n * Math.ceil(blocks / 2);
    const zeroPoints = symmetric ? null : g.reserve(`${name}.zero_points`, "uint8", [zeroBytes], zeroBytes);
    this.submit({
      kind: "prequantized",
      parts,
      codes: codes.offset,
      scales: scales.offset,
      zeroPoints: zeroPoints?.offset ?? null,
    });
    const inputs = [order ? this.reordered(g, x, order, `${name}.channels`) : x, codes.tensor, scales.tensor];
    if (zeroPoints) inputs.push(zeroPoints.tensor);
    return g.node(
      "MatMulNBits",
      inputs,
      { K: k, N: n, bits: 4, block_size: block, accuracy_level: this.accuracyLevel },
      { ...outputs, domain: "com.microsoft" },
    )[0];
  }

  /** x's columns in a GPTQ act-order's channel order: gathered once per input and order (a layer's q, k and v share both). */
  private reordered(g: GraphBuilder, x: Tensor, order: ChannelOrder, name: string): Tensor {
    const key = `${x}/${order.key}`;
    let gathered = this.reorderedInputs.get(key);
    if (!gathered) {
      const channels = g.weight(name, "int64", [order.channels.length], BigInt64Array.from(order.channels, BigInt));
      gathered = g.op("Gather", [x, channels], { axis: -1 });
      this.reorderedInputs.set(key, gathered);
    }
    return gathered;
  }

  private entry(name: string): TensorEntry {
    return this.checkpoint.tensors.get(name)!;
  }

  private get accuracyLevel(): number {
    return this.options.accuracyLevel ?? 4;
  }

  private submit(job: WeightJob): void {
    this.jobs.push({ job, bytes: job.parts.reduce((sum, part) => sum + part.byteLength, 0) });
  }

  private count(entry: TensorEntry): void {
    this.progress(entry.byteLength);
  }

  private progress(bytes: number): void {
    this.doneBytes += bytes;
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
    const key = prequantizedLayoutKey(part) ?? nativeLayoutKey(part);
    const last = runs[runs.length - 1];
    if (last && last.key === key) last.names.push(part.name);
    else runs.push({ key, names: [part.name] });
  }
  return runs.map((run) => run.names);
}
