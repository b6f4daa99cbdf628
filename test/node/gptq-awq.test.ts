// GPTQ and AWQ checkpoints: the published dequantisations (written here from AutoGPTQ's, AutoAWQ's
// and vLLM's code, apart from the encoder) against the MatMulNBits encoding, element by element and
// through ONNX Runtime; a whole tiny Mixtral against its dequantised f32 twin; refusals by name.
// No real GPTQ/AWQ file is available here: every checkpoint is written by support/gptq-awq-writer.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedTensors, openCheckpoint, type Checkpoint } from "../../backend/engine/checkpoint/checkpoint.ts";
import { CheckpointError, normaliseConfig } from "../../backend/engine/checkpoint/config.ts";
import { assemblePackedLinears } from "../../backend/engine/checkpoint/gptq-awq.ts";
import { presets } from "../../backend/engine/checkpoint/presets.ts";
import { uniformGenerator } from "../../backend/engine/checkpoint/random-checkpoint.ts";
import { f16ToF32, readSafetensorsHeader, type TensorEntry } from "../../backend/engine/checkpoint/safetensors.ts";
import { toF16 } from "../../backend/engine/checkpoint/narrow-floats.ts";
import { writeSafetensors } from "../../backend/engine/checkpoint/safetensors-writer.ts";
import { tensorNames } from "../../backend/engine/checkpoint/tensor-names.ts";
import { TensorRows } from "../../backend/engine/checkpoint/tensor-rows.ts";
import { cachedModelGraph } from "../../backend/engine/graph/graph-cache.ts";
import { GraphBuilder } from "../../backend/engine/graph/onnx-builder.ts";
import { channelOrder, encodePrequantized } from "../../backend/engine/graph/prequantized.ts";
import { ModelWeights } from "../../backend/engine/graph/weights.ts";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import { HostKvPool } from "../../backend/engine/host-kv-pool.ts";
import { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { compareLogits } from "../../bench/quality.ts";
import { maxDifference, useTempCache } from "./support/engine-helpers.ts";
import {
  actOrderGroups,
  packAwq,
  packGptq,
  randomLinear,
  writeCheckpoint,
  type PackedTensors,
  type QuantisedLinear,
} from "./support/gptq-awq-writer.ts";

const dir = mkdtempSync(join(tmpdir(), "moxie-gptq-awq-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
useTempCache();

type Format = "gptq" | "gptq_v2" | "awq";
const quantizationConfig = (format: Format, options: Record<string, unknown> = {}) =>
  format === "awq"
    ? { quant_method: "awq", bits: 4, group_size: 128, zero_point: true, version: "gemm", ...options }
    : {
        quant_method: "gptq",
        bits: 4,
        group_size: 128,
        desc_act: false,
        sym: false,
        checkpoint_format: format,
        ...options,
      };

/**
 * GPTQ's dequantisation as AutoGPTQ's QuantLinear.forward (qlinear_cuda_old.py) and vLLM's gptq.py
 * torch fallback do it: q = (qweight[i / 8][o] >> 4·(i % 8)) & 15, z = (qzeros[g][o / 8] >> 4·(o % 8)) & 15
 * (+ 1 in the v1 format), W[o, i] = scales[g][o] · (q − z) with g = g_idx[i] (i / G without one).
 */
function dequantizeGptq(t: PackedTensors, n: number, k: number, groupSize: number, format: Format): Float32Array {
  const [qweight, qzeros, scales] = [t.qweight.values, t.qzeros.values, t.scales.values];
  const weight = new Float32Array(n * k);
  for (let i = 0; i < k; i++) {
    const g = t.g_idx ? t.g_idx.values[i] : Math.floor(i / groupSize);
    for (let o = 0; o < n; o++) {
      const q = (qweight[(i >> 3) * n + o] >>> (4 * (i & 7))) & 15;
      const z = ((qzeros[g * (n / 8) + (o >> 3)] >>> (4 * (o & 7))) & 15) + (format === "gptq" ? 1 : 0);
      weight[o * k + i] = scales[g * n + o] * (q - z);
    }
  }
  return weight;
}

/**
 * AWQ's as AutoAWQ's dequantize_gemm (packing_utils.py) and vLLM's awq_triton.py do it: output o of a
 * word is at its nibble AWQ_REVERSE_ORDER[o % 8], W[o, i] = (q − z) · scales[i / G][o].
 */
function dequantizeAwq(t: PackedTensors, n: number, k: number, groupSize: number): Float32Array {
  const reverseOrder = [0, 4, 1, 5, 2, 6, 3, 7];
  const [qweight, qzeros, scales] = [t.qweight.values, t.qzeros.values, t.scales.values];
  const weight = new Float32Array(n * k);
  for (let i = 0; i < k; i++) {
    const g = Math.floor(i / groupSize);
    for (let o = 0; o < n; o++) {
      const shift = 4 * reverseOrder[o & 7];
      const q = (qweight[i * (n / 8) + (o >> 3)] >>> shift) & 15;
      const z = (qzeros[g * (n / 8) + (o >> 3)] >>> shift) & 15;
      weight[o * k + i] = (q - z) * scales[g * n + o];
    }
  }
  return weight;
}

const pack = (linear: QuantisedLinear, format: Format, withGroups = true) =>
  format === "awq" ? packAwq(linear) : packGptq(linear, format, withGroups);
const dequantize = (t: PackedTensors, linear: QuantisedLinear, format: Format) =>
  format === "awq"
    ? dequantizeAwq(t, linear.outputs, linear.inputs, linear.groupSize)
    : dequantizeGptq(t, linear.outputs, linear.inputs, linear.groupSize, format);

/** A checkpoint folder of a tiny Mixtral's config.json and just these Linears (and `others`), by prefix. */
function writeLinears(
  packed: Map<string, PackedTensors>,
  quantization: Record<string, unknown> | null,
  others: PackedTensors = {},
): string {
  const path = mkdtempSync(join(dir, "linears-"));
  const tensors = new Map(Object.entries(others));
  for (const [prefix, parts] of packed)
    for (const [suffix, tensor] of Object.entries(parts)) tensors.set(`${prefix}.${suffix}`, tensor);
  writeCheckpoint(path, { ...presets.tiny, ...(quantization && { quantization_config: quantization }) }, tensors);
  return path;
}

/** Those Linears as openCheckpoint assembles them (without its check that the whole model is there). */
async function linearsCheckpoint(packed: Map<string, PackedTensors>, quantization: Record<string, unknown>) {
  const path = writeLinears(packed, quantization);
  const tensors = new Map<string, TensorEntry>();
  for (const entry of await readSafetensorsHeader(join(path, "model.safetensors"))) tensors.set(entry.name, entry);
  const config = normaliseConfig(JSON.parse(readFileSync(join(path, "config.json"), "utf8")));
  assemblePackedLinears(tensors, config.packing, path);
  const checkpoint: Checkpoint = { dir: path, config: { ...config, tiedEmbeddings: true }, tensors, files: [] };
  return checkpoint;
}

/** y = x Wᵀ of the stacked `names` through ONNX Runtime with float activations (accuracy_level 0), and the graph's Gather count. */
async function project(checkpoint: Checkpoint, names: string[], x: Float32Array, tokens: number) {
  const graphDir = mkdtempSync(join(dir, "graph-"));
  const g = GraphBuilder.create(join(graphDir, "weights.bin"), "weights.bin");
  const k = checkpoint.tensors.get(names[0])!.shape[1];
  const n = names.reduce((rows, name) => rows + checkpoint.tensors.get(name)!.shape[0], 0);
  const weights = new ModelWeights(checkpoint, { accuracyLevel: 0 });
  weights.linear(g, g.input("x", "float32", ["T", k]), "w", names, "float32", "y");
  g.output("y", "float32", ["T", n]);
  await weights.complete(g);
  const model = g.finish();
  writeFileSync(join(graphDir, "model.onnx"), model);
  const session = await InferenceSession.create(join(graphDir, "model.onnx"));
  const y = (await session.run({ x: new Tensor("float32", x, [tokens, k]) })).y.data as Float32Array;
  await session.release();
  const nodes = onnxProto.onnx.ModelProto.decode(model).graph!.node!;
  return { y, gathers: nodes.filter((node) => node.opType === "Gather").length };
}

/** |a − b| within `relative` of the larger magnitude (or of 1). */
const close = (a: number, b: number, relative: number) =>
  Math.abs(a - b) <= relative * Math.max(1, Math.abs(a), Math.abs(b));

/** Every y[t, o] against Σ x[t, i] · W[o, i] in float64. */
function expectProjection(y: Float32Array, x: Float32Array, weight: Float32Array, tokens: number, n: number) {
  const k = weight.length / n;
  let worst = 0;
  for (let t = 0; t < tokens; t++)
    for (let o = 0; o < n; o++) {
      let want = 0;
      for (let i = 0; i < k; i++) want += x[t * k + i] * weight[o * k + i];
      if (!close(y[t * n + o], want, 1e-5)) worst = Math.max(worst, Math.abs(y[t * n + o] - want));
    }
  expect(worst, "largest error beyond 1e-5 relative").toBe(0);
}

const activations = (tokens: number, k: number) =>
  new Float32Array(tokens * k).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));

describe("one Linear: the MatMulNBits encoding holds the checkpoint's values exactly", () => {
  const [n, tokens] = [64, 3];
  const cases: {
    label: string;
    format: Format;
    options: Record<string, unknown>;
    actOrder: boolean;
    zeros: [number, number];
    withGroups?: boolean;
    inputs?: number;
  }[] = [
    {
      label: "GPTQ v1, act-order, symmetric",
      format: "gptq",
      options: { desc_act: true, sym: true },
      actOrder: true,
      zeros: [8, 8],
    },
    {
      label: "GPTQ v1, act-order, asymmetric",
      format: "gptq",
      options: { desc_act: true },
      actOrder: true,
      zeros: [1, 15],
    },
    { label: "GPTQ v1, no g_idx", format: "gptq", options: {}, actOrder: false, zeros: [1, 15], withGroups: false },
    { label: "GPTQ v2, sequential g_idx", format: "gptq_v2", options: {}, actOrder: false, zeros: [0, 15] },
    { label: "GPTQ v2, act-order", format: "gptq_v2", options: { desc_act: true }, actOrder: true, zeros: [0, 15] },
    {
      label: "GPTQ v2, act-order, groups of 32",
      format: "gptq_v2",
      options: { desc_act: true, group_size: 32 },
      actOrder: true,
      zeros: [0, 15],
    },
    { label: "AWQ", format: "awq", options: {}, actOrder: false, zeros: [0, 15] },
    { label: "AWQ, groups of 64", format: "awq", options: { group_size: 64 }, actOrder: false, zeros: [0, 15] },
    {
      label: "AWQ, 3 groups (a zero-point byte half used)",
      format: "awq",
      options: {},
      actOrder: false,
      zeros: [0, 15],
      inputs: 384,
    },
  ];

  it.each(cases)("$label", async ({ format, options, actOrder, zeros, withGroups, inputs }) => {
    const k = inputs ?? 512;
    const groupSize = (options.group_size as number | undefined) ?? 128;
    const random = uniformGenerator(11);
    const groupOf = actOrder ? actOrderGroups(random, k, groupSize) : undefined;
    const linear = randomLinear(random, n, k, { groupSize, zeros, ...(groupOf && { groupOf }) });
    const packed = pack(linear, format, withGroups);
    const reference = dequantize(packed, linear, format);
    // The writer against the definition: W = scale · (code − zero), in the group g_idx names.
    let wrong = 0;
    for (let o = 0; o < n; o++)
      for (let i = 0; i < k; i++) {
        const g = linear.groupOf[i];
        const want = linear.scales[g * n + o] * (linear.codes[o * k + i] - linear.zeros[g * n + o]);
        wrong += Number(reference[o * k + i] !== want);
      }
    expect(wrong, "weights the writer packed differently from the definition").toBe(0);

    const checkpoint = await linearsCheckpoint(new Map([["proj", packed]]), quantizationConfig(format, options));
    const entry = checkpoint.tensors.get("proj.weight")!;
    expect([entry.dtype, entry.shape]).toEqual([format === "awq" ? "AWQ" : "GPTQ", [n, k]]);
    // Decoded back element by element: (code − zero point) · scale, code position p holding channel order[p].
    const encoded = encodePrequantized([entry]);
    const order = channelOrder(entry);
    expect(order !== null).toBe(actOrder);
    expect(encoded.zeroPoints === null).toBe(options.sym === true);
    expect([encoded.block, encoded.blocks]).toEqual([groupSize, k / groupSize]);
    const zeroBytes = Math.ceil(encoded.blocks / 2);
    for (let o = 0; o < n; o++)
      for (let p = 0; p < k; p++) {
        const b = Math.floor(p / encoded.block);
        const code = (encoded.codes[o * (k / 2) + (p >> 1)] >> (4 * (p & 1))) & 15;
        const zero = encoded.zeroPoints ? (encoded.zeroPoints[o * zeroBytes + (b >> 1)] >> (4 * (b & 1))) & 15 : 8;
        const channel = order ? order.channels[p] : p;
        wrong += Number((code - zero) * encoded.scales[o * encoded.blocks + b] !== reference[o * k + channel]);
      }
    expect(wrong, "encoded weights that differ from the dequantisation").toBe(0);

    const x = activations(tokens, k);
    const { y, gathers } = await project(checkpoint, ["proj.weight"], x, tokens);
    expect(gathers).toBe(actOrder ? 1 : 0);
    expectProjection(y, x, reference, tokens, n);
  });

  it("q|k|v stack into MatMulNBits by act-order, one Gather per order, each part keeping its values", async () => {
    const k = 512;
    const random = uniformGenerator(5);
    const shared = actOrderGroups(random, k, 128);
    const own = actOrderGroups(random, k, 128);
    const parts = [
      ["q", randomLinear(random, 64, k, { groupOf: own, zeros: [1, 15] })],
      ["k", randomLinear(random, 32, k, { groupOf: shared, zeros: [1, 15] })],
      ["v", randomLinear(random, 32, k, { groupOf: shared, zeros: [1, 15] })],
    ] as const;
    const packed = new Map(parts.map(([name, linear]) => [name, packGptq(linear, "gptq")]));
    const checkpoint = await linearsCheckpoint(packed, quantizationConfig("gptq", { desc_act: true }));
    const reference = Float32Array.from(
      parts.flatMap(([name, linear]) => Array.from(dequantize(packed.get(name)!, linear, "gptq"))),
    );
    const x = activations(tokens, k);
    // q's order differs from k's and v's: two runs, two Gathers; k and v share theirs.
    const all = await project(checkpoint, ["q.weight", "k.weight", "v.weight"], x, tokens);
    expect(all.gathers).toBe(2);
    expectProjection(all.y, x, reference, tokens, 128);
    const keysValues = await project(checkpoint, ["k.weight", "v.weight"], x, tokens);
    expect(keysValues.gathers).toBe(1);
    expectProjection(keysValues.y, x, reference.subarray(64 * k), tokens, 64);
  });
});

describe("a tiny Mixtral in GPTQ (v1, act-order, asymmetric) scores as its dequantised f32 twin", () => {
  const config = { ...presets.tiny, num_hidden_layers: 2, vocab_size: 512 };
  const gptqDir = join(dir, "mixtral-gptq");
  const twinDir = join(dir, "mixtral-f32");
  const random = uniformGenerator(3);
  const sequences = [5, 17, 33].map((length) => Array.from({ length }, () => Math.floor(random() * 512)));

  beforeAll(() => {
    const specs = expectedTensors(normaliseConfig(config));
    const stored = new Map<string, PackedTensors[string]>();
    const twin = new Map<string, Float32Array>();
    // Linears that read one input share its act-order, as GPTQ's order (by the input's Hessian) makes them.
    const orders = new Map<string, Int32Array>();
    const inputOf = (name: string) => name.replace(/\.[qkv]_proj\./, ".qkv.").replace(/\.w[13]\./, ".w13.");
    for (const { name, shape } of specs) {
      if (shape.length === 1) {
        stored.set(name, { shape, values: new Float32Array(shape[0]).fill(1) });
        twin.set(name, new Float32Array(shape[0]).fill(1));
      } else if (
        name === tensorNames.embedding ||
        name === tensorNames.lmHead ||
        name.includes(".block_sparse_moe.gate.")
      ) {
        const values = Float32Array.from(
          toF16(new Float32Array(shape[0] * shape[1]).map(() => (2 * random() - 1) * 0.035)),
          f16ToF32,
        );
        stored.set(name, { shape, values });
        twin.set(name, values);
      } else {
        const [outputs, inputs] = shape;
        const input = inputOf(name);
        if (!orders.has(input)) orders.set(input, actOrderGroups(random, inputs, 128));
        const linear = randomLinear(random, outputs, inputs, { zeros: [1, 15], groupOf: orders.get(input) });
        const packed = packGptq(linear, "gptq");
        const prefix = name.slice(0, -".weight".length);
        for (const [suffix, tensor] of Object.entries(packed)) stored.set(`${prefix}.${suffix}`, tensor);
        twin.set(name, dequantizeGptq(packed, outputs, inputs, 128, "gptq"));
      }
    }
    writeCheckpoint(
      gptqDir,
      { ...config, quantization_config: quantizationConfig("gptq", { desc_act: true }) },
      stored,
    );
    mkdirSync(twinDir);
    writeFileSync(join(twinDir, "config.json"), JSON.stringify({ ...config, torch_dtype: "float32" }));
    writeSafetensors(twinDir, specs, (spec) => twin.get(spec.name)!, "F32");
  });

  /** The engine on a graph whose MatMulNBits use float activations (accuracy_level 0), which loadEngine does not offer. */
  async function exactEngine(model: string): Promise<OnnxEngine> {
    const checkpoint = await openCheckpoint(model);
    const session = await InferenceSession.create(await cachedModelGraph(checkpoint, { accuracyLevel: 0 }), {
      intraOpNumThreads: 2,
    });
    const embedding = new TensorRows(checkpoint.tensors.get(tensorNames.embedding)!);
    return new OnnxEngine(
      session,
      checkpoint.config,
      embedding,
      64,
      new HostKvPool({
        layers: checkpoint.config.layers,
        kvHeads: checkpoint.config.kvHeads,
        blocks: 4,
        blockSize: 16,
        headDim: checkpoint.config.headDim,
        dtype: "float32",
        chunkBlocks: 5,
        place: "host",
      }),
      64,
    );
  }

  /**
   * Every position's logits of the three sequences, then the last sequence's last token again,
   * decoded through the KV cache: a step in which most experts get no token.
   */
  const logits = async (engine: OnnxEngine) => {
    const evaluations = await engine.evaluate(sequences);
    const blocks = reservedBlocks(engine.shape, 0);
    const prompt = sequences[2];
    await engine.forward([{ blocks, past: 0, tokens: prompt.slice(0, -1) }]);
    const [step] = await engine.forward([{ blocks, past: prompt.length - 1, tokens: prompt.slice(-1) }]);
    await engine.close();
    return Float32Array.from([...evaluations.flatMap((evaluation) => Array.from(evaluation.logits)), ...step]);
  };

  // Tolerances: with float activations only the summation order differs (measured 1.9e-6 at most);
  // as served, MatMulNBits rounds the activations to int8 per block (measured mean KL 4e-6, top-1 52
  // of 56 on these nearly flat random logits), where a mapping that drops act-order's reorder
  // lands at a mean KL of 5e-2 and 2 % top-1 agreement (and 1.8 max |Δ logit| at level 0).
  it("with float activations (accuracy_level 0), equal up to summation order", async () => {
    const difference = maxDifference(
      await logits(await exactEngine(gptqDir)),
      await logits(await exactEngine(twinDir)),
    );
    console.log(`GPTQ vs its f32 twin, accuracy_level 0: max |Δ logit| ${difference.toExponential(2)}`);
    expect(difference).toBeLessThan(1e-4);
  });

  it("as served (accuracy_level 4, int8 activations), within the activations' rounding", async () => {
    const options = { threads: 2, kvCacheSequences: 1, contextLength: 64 };
    const quality = compareLogits(
      await logits(await loadEngine({ model: twinDir, ...options })),
      await logits(await loadEngine({ model: gptqDir, ...options })),
      512,
    );
    console.log(
      `GPTQ vs its f32 twin, accuracy_level 4: top-1 agreement ${quality.top1Agreement.toFixed(3)}, mean KL ${quality.meanKl.toExponential(2)}`,
    );
    expect(quality.meanKl).toBeLessThan(1e-4);
    expect(quality.top1Agreement).toBeGreaterThanOrEqual(0.85);
  });
});

describe("refused with the problem named", () => {
  const message = async (attempt: Promise<unknown> | (() => unknown)) => {
    const error = await (typeof attempt === "function" ? Promise.resolve().then(attempt) : attempt).then(
      () => null,
      (error: unknown) => error,
    );
    expect(error).toBeInstanceOf(CheckpointError);
    return (error as Error).message;
  };
  const gptq = quantizationConfig("gptq");
  const awq = quantizationConfig("awq");

  it.each([
    [{ ...gptq, bits: 8 }, "quantization_config: GPTQ with bits 8 is not supported (4 only)"],
    [{ ...gptq, group_size: -1 }, "GPTQ with group_size -1 is not supported (32, 64, 128)"],
    [{ ...gptq, checkpoint_format: "marlin" }, 'GPTQ checkpoint_format "marlin" is not supported (gptq, gptq_v2)'],
    [{ ...gptq, is_marlin_format: true }, 'GPTQ checkpoint_format "marlin" is not supported'],
    [{ ...awq, bits: 3 }, "AWQ with bits 3 is not supported (4 only)"],
    [{ ...awq, version: "gemv" }, 'AWQ version "gemv" is not supported (only "gemm"'],
    [{ ...awq, version: "exllama" }, 'AWQ version "exllama" is not supported'],
    [{ ...awq, version: "marlin" }, 'AWQ version "marlin" is not supported'],
    [{ ...awq, zero_point: false }, "AWQ without zero points (zero_point: false) is not supported"],
    [{ quant_method: "bitsandbytes", load_in_4bit: true }, 'quant_method "bitsandbytes" is not supported (gptq, awq)'],
  ])("quantization_config %j", async (quantization, expected) => {
    expect(await message(openCheckpoint(writeLinears(new Map(), quantization)))).toContain(expected);
  });

  const random = uniformGenerator(17);
  const linear = () => randomLinear(random, 64, 256, { zeros: [1, 15] });

  it("GPTQ/AWQ tensors that do not fit together, or without a quantization_config", async () => {
    const packed = packGptq(linear(), "gptq");
    const opened = (parts: PackedTensors, quantization: Record<string, unknown> | null = gptq, others = {}) =>
      message(openCheckpoint(writeLinears(new Map([["proj", parts]]), quantization, others)));
    expect(await opened(packed, null)).toContain(
      "proj.qweight is a GPTQ/AWQ tensor, but config.json has no quantization_config",
    );
    const { qzeros, ...withoutZeros } = packed;
    expect(qzeros.shape).toEqual([2, 8]);
    expect(await opened(withoutZeros)).toContain("proj.qweight has no proj.qzeros");
    const { g_idx, ...withoutGroups } = packed;
    expect(g_idx.shape).toEqual([256]);
    expect(await opened(withoutGroups, quantizationConfig("gptq", { desc_act: true }))).toContain(
      "proj.qweight has no proj.g_idx",
    );
    const scales = { shape: [2, 32], values: new Float32Array(64) };
    expect(await opened({ ...packed, scales })).toContain(
      "proj.scales has shape [2,32], expected [2,64] from proj.qweight",
    );
    const stray = { "model.layers.0.idx": { shape: [4], values: new Int32Array(4) } };
    expect(await opened(packed, gptq, stray)).toContain(
      "model.layers.0.idx is I32, which moxie reads only as a GPTQ/AWQ Linear's qweight, qzeros or g_idx",
    );
  });

  it("values no exact MatMulNBits holds, or on which GPTQ's readers disagree, when the graph is built", async () => {
    const encoded = async (quantization: Record<string, unknown>, change: (linear: QuantisedLinear) => void) => {
      const changed = linear();
      change(changed);
      const checkpoint = await linearsCheckpoint(new Map([["proj", packGptq(changed, "gptq")]]), quantization);
      return message(() => encodePrequantized([checkpoint.tensors.get("proj.weight")!]));
    };
    expect(await encoded(gptq, (q) => (q.zeros[9] = 16))).toContain(
      "proj.qzeros: output 9, group 0 stores 15, a zero point of 16 (v1 format), which 4 bits cannot hold",
    );
    expect(await encoded({ ...gptq, sym: true }, (q) => q.zeros.fill(8).fill(3, 70, 71))).toContain(
      "proj.qzeros: output 6, group 1 has zero point 3, but sym is true (8)",
    );
    const actOrder = quantizationConfig("gptq", { desc_act: true });
    expect(await encoded(actOrder, (q) => (q.groupOf[0] = 1))).toContain(
      "proj.g_idx: group 0 has 127 input channels, not 128",
    );
    expect(await encoded(gptq, (q) => q.groupOf.set(actOrderGroups(random, 256, 128)))).toContain(
      "proj.g_idx: channels out of group order, but desc_act is false",
    );
  });
});
