// GGUF import: dequantisation as llama.cpp's gguf-py does it (test/node/gguf-golden.json, made by
// bench/gguf-golden.py from the fixtures and from a file of random blocks of every type), the exact
// MatMulNBits encoding, llama.cpp's own outputs on its files, and bad files refused by name.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint, type Checkpoint } from "../../backend/engine/checkpoint/checkpoint.ts";
import { CheckpointError, type ModelConfig } from "../../backend/engine/checkpoint/config.ts";
import { dequantize } from "../../backend/engine/checkpoint/gguf/ggml-blocks.ts";
import { isQuantized } from "../../backend/engine/checkpoint/gguf/ggml-types.ts";
import { readGguf } from "../../backend/engine/checkpoint/gguf/gguf-file.ts";
import type { TensorEntry } from "../../backend/engine/checkpoint/safetensors.ts";
import { readStored } from "../../backend/engine/checkpoint/tensor-data.ts";
import { encodeNative } from "../../backend/engine/graph/native-quant.ts";
import { GraphBuilder } from "../../backend/engine/graph/onnx-builder.ts";
import { ModelWeights } from "../../backend/engine/graph/weights.ts";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { argmax } from "../../backend/sampler/sampler.ts";
import { useTempCache } from "./support/engine-helpers.ts";
import { EVERY_TYPE_DIMS, quantTypes, writeEveryTypeGguf } from "./support/every-type-gguf.ts";
import { referenceFloats } from "./support/fixture.ts";
import { writeGguf, type GgufSpec } from "./support/gguf-writer.ts";

const FIXTURES = "../shared/fixtures-gguf";
const golden = JSON.parse(readFileSync("test/node/gguf-golden.json", "utf8")) as Record<
  string,
  { count: number; sum: number; sum_of_squares: number; picks: [number, number][] }
>;
const dir = mkdtempSync(join(tmpdir(), "moxie-gguf-"));
const everyType = join(dir, "every-type.gguf");
useTempCache();

beforeAll(() => writeEveryTypeGguf(everyType));

/** A GGUF tensor as a TensorEntry (as the checkpoint maps it: HF's [rows, cols]). */
function entryOf(file: string, name: string): TensorEntry {
  const tensor = readGguf(file).tensors.get(name)!;
  return {
    name,
    file,
    dtype: tensor.type,
    shape: [...tensor.dims].reverse(),
    offset: tensor.offset,
    byteLength: tensor.byteLength,
  };
}

function dequantized(entry: TensorEntry): Float32Array {
  const out = new Float32Array(entry.shape.reduce((a, b) => a * b, 1));
  if (!isQuantized(entry.dtype)) throw new Error(`${entry.name} is ${entry.dtype}`);
  dequantize(entry.dtype, readStored(entry), 0, out);
  return out;
}

/** |a − b| within `relative` of the larger magnitude (float32 rounding differs between numpy and us by an ulp). */
const close = (a: number, b: number, relative: number) =>
  Math.abs(a - b) <= relative * Math.max(1, Math.abs(a), Math.abs(b));

describe("dequantisation, against gguf-py", () => {
  it.each(Object.keys(golden))("%s", (key) => {
    const [fileName, tensorName] = key.split(":");
    const file = fileName === "every-type.gguf" ? everyType : join(FIXTURES, fileName);
    const values = dequantized(entryOf(file, tensorName));
    const expected = golden[key];
    expect(values.length).toBe(expected.count);
    let sum = 0;
    let squares = 0;
    for (const value of values) [sum, squares] = [sum + value, squares + value * value];
    expect(close(sum, expected.sum, 1e-6)).toBe(true);
    expect(close(squares, expected.sum_of_squares, 1e-6)).toBe(true);
    for (const [index, value] of expected.picks) expect(close(values[index], value, 1e-6)).toBe(true);
  });
});

describe("the MatMulNBits encoding holds the file's values exactly", () => {
  const tokens = 3;
  const [k, n] = EVERY_TYPE_DIMS;
  const x = new Float32Array(tokens * k).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));

  it.each(quantTypes)("%s", async (type) => {
    const entry = entryOf(everyType, type);
    const reference = dequantized(entry);
    // Decoded back: s · (code − 2^(bits−1)) + correction, element by element.
    const native = encodeNative([entry]);
    const zero = 1 << (native.bits - 1);
    for (let row = 0; row < n; row++)
      for (let col = 0; col < k; col++) {
        const block = row * native.blocks + Math.floor(col / native.block);
        const within = col % native.block;
        const blob = block * native.blobBytes;
        const code =
          native.bits === 8
            ? native.codes[blob + within]
            : (native.codes[blob + (within >> 1)] >> ((within & 1) * 4)) & 15;
        const value = native.scales[block] * (code - zero) + (native.correction?.[block] ?? 0);
        expect(close(value, reference[row * k + col], 1e-6)).toBe(true);
      }
    // And through ONNX Runtime, with float activations (accuracy_level 0): a Gemm over the dequantised weights, up to summation order.
    const graphDir = mkdtempSync(join(dir, type));
    const g = GraphBuilder.create(join(graphDir, "weights.bin"), "weights.bin");
    const config = { tiedEmbeddings: true } as ModelConfig;
    const checkpoint: Checkpoint = { dir: everyType, config, tensors: new Map([[type, entry]]), files: [everyType] };
    const weights = new ModelWeights(checkpoint, { accuracyLevel: 0 });
    weights.linear(g, g.input("x", "float32", ["T", k]), "w", [type], "float32", "y");
    g.output("y", "float32", ["T", n]);
    await weights.complete(g);
    writeFileSync(join(graphDir, "model.onnx"), g.finish());
    const session = await InferenceSession.create(join(graphDir, "model.onnx"));
    const y = (await session.run({ x: new Tensor("float32", x, [tokens, k]) })).y.data as Float32Array;
    await session.release();
    for (let t = 0; t < tokens; t++)
      for (let row = 0; row < n; row++) {
        let want = 0;
        for (let col = 0; col < k; col++) want += x[t * k + col] * reference[row * k + col];
        expect(close(y[t * n + row], want, 1e-5)).toBe(true);
      }
  });
});

interface GgufReference {
  cases: { input_ids: number[]; argmax: number[]; last_logits_f32_b64: string; greedy_new_ids: number[] }[];
}
const referenceOf = (name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, `${name}.reference.json`), "utf8")) as GgufReference;

/**
 * llama.cpp's outputs on its own files. llama.cpp multiplies with 8-bit activations and keeps a
 * float16 KV cache, moxie with float weights' exact values and int8 activations of its own
 * blocking: so the logits differ by about the 8-bit activation noise (mean |Δ| ≈ 0.01), which for
 * Q4_K_M is a tenth of the file's quantisation error (its distance to the F32 conversion, ≈ 0.1).
 * Tolerances: mean |Δ last logits| ≤ 0.02 to the file's reference and ≤ 0.3 × the file's own
 * distance to F32 for Q4_K_M; argmax agreeing at ≥ 93 % of the 281 positions (llama.cpp's own Q8_0
 * agrees with its F32 at 268).
 */
describe.each([
  ["micro-q4_k_m", 0.3],
  ["micro-q8_0", null],
] as const)("%s against llama.cpp's reference", (name, marginToF32) => {
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = await loadEngine({
      model: join(FIXTURES, `${name}.gguf`),
      threads: 2,
      kvCacheSequences: 2,
      contextLength: 512,
    });
  });
  afterAll(() => engine?.close());

  it("scores the three sequences within the stated tolerance", async () => {
    const reference = referenceOf(name);
    const f32 = referenceOf("micro-f32");
    const vocab = 32000;
    let agreeing = 0;
    let positions = 0;
    for (const [index, sequence] of reference.cases.entries()) {
      const [evaluation] = await engine.evaluate([sequence.input_ids]);
      const tokens = sequence.input_ids.length;
      for (let t = 0; t < tokens; t++)
        agreeing += Number(argmax(evaluation.logits.subarray(t * vocab, (t + 1) * vocab)) === sequence.argmax[t]);
      positions += tokens;
      const last = evaluation.logits.subarray((tokens - 1) * vocab, tokens * vocab);
      const theirs = referenceFloats(sequence.last_logits_f32_b64);
      const unquantised = referenceFloats(f32.cases[index].last_logits_f32_b64);
      let toFile = 0;
      let fileToF32 = 0;
      for (let v = 0; v < vocab; v++) {
        toFile += Math.abs(last[v] - theirs[v]) / vocab;
        fileToF32 += Math.abs(theirs[v] - unquantised[v]) / vocab;
      }
      expect(toFile).toBeLessThan(0.02);
      if (marginToF32 !== null) expect(toFile).toBeLessThan(marginToF32 * fileToF32);
    }
    expect(agreeing / positions).toBeGreaterThanOrEqual(0.93);
  });

  /**
   * 20 greedy tokens through the KV cache, against llama.cpp's: a random model has near-ties, where
   * the two may part after agreeing (measured: 20, 20, 12 of 20 for Q4_K_M; 14, 20, 8 for Q8_0).
   */
  it("continues greedily as llama.cpp does, for the most part", async () => {
    const prefixes = [];
    for (const sequence of referenceOf(name).cases) {
      const blocks = reservedBlocks(engine.shape, 0);
      let [logits] = await engine.forward([{ blocks, past: 0, tokens: sequence.input_ids }]);
      let agreed = 0;
      while (agreed < sequence.greedy_new_ids.length && argmax(logits) === sequence.greedy_new_ids[agreed]) {
        const past = sequence.input_ids.length + agreed;
        [logits] = await engine.forward([{ blocks, past, tokens: [sequence.greedy_new_ids[agreed]] }]);
        agreed += 1;
      }
      prefixes.push(agreed);
    }
    expect(Math.max(...prefixes)).toBe(20);
    expect(prefixes.reduce((sum, agreed) => sum + agreed, 0)).toBeGreaterThanOrEqual(35);
  });
});

describe("bad files are refused with the problem named", () => {
  const llamaMetadata: GgufSpec["metadata"] = [
    ["general.architecture", "string", "llama"],
    ["llama.block_count", "uint32", 1],
    ["llama.context_length", "uint32", 256],
    ["llama.embedding_length", "uint32", 64],
    ["llama.feed_forward_length", "uint32", 128],
    ["llama.attention.head_count", "uint32", 4],
    ["llama.attention.layer_norm_rms_epsilon", "float32", 1e-5],
    ["llama.vocab_size", "uint32", 32],
  ];
  const refusal = async (spec: GgufSpec | Uint8Array) => {
    const path = join(dir, `bad-${Math.random().toString(36).slice(2)}.gguf`);
    if (spec instanceof Uint8Array) writeFileSync(path, spec);
    else await writeGguf(path, spec);
    const opened = openCheckpoint(path);
    await expect(opened).rejects.toBeInstanceOf(CheckpointError);
    return ((await opened.catch((error: Error) => error)) as Error).message;
  };
  const f32 = (count: number) => new Uint8Array(count * 4);

  it("a truncated file: in its header, and in its tensor data", async () => {
    const whole = readFileSync(join(FIXTURES, "micro-q8_0.gguf"));
    expect(await refusal(whole.subarray(0, 4000))).toMatch(/tokenizer.ggml.tokens .* truncated/);
    expect(await refusal(whole.subarray(0, 30))).toMatch(/the tensor count \(23\) .*: truncated/);
    expect(await refusal(whole.subarray(0, 20))).toContain("not a GGUF file");
    expect(await refusal(whole.subarray(0, 250))).toMatch(
      /the file ends \(at 250 bytes\) while reading the type of llama.context_length: truncated/,
    );
    expect(await refusal(whole.subarray(0, whole.length - 1000))).toMatch(
      /claims \d+ bytes at \d+, past the end of the file/,
    );
  });

  it("a tensor type moxie does not read, named", async () => {
    const tensor = (type: number) => ({ name: "token_embd.weight", type, dims: [64, 32], data: new Uint8Array(2048) });
    expect(await refusal({ metadata: llamaMetadata, tensors: [tensor(10)] })).toContain(
      "is Q2_K, which moxie does not read",
    );
    expect(await refusal({ metadata: llamaMetadata, tensors: [tensor(99)] })).toContain("is unknown type id 99");
  });

  it("an architecture other than llama", async () => {
    expect(await refusal({ metadata: [["general.architecture", "string", "gpt2"]] })).toContain(
      'general.architecture is "gpt2"; moxie reads "llama" GGUFs',
    );
  });

  it("metadata that contradicts the tensors' shapes", async () => {
    const tensors = [{ name: "token_embd.weight", type: "F32" as const, dims: [96, 32], data: f32(96 * 32) }];
    expect(await refusal({ metadata: llamaMetadata, tensors })).toContain(
      "tensor model.embed_tokens.weight has shape [32,96], expected [32,64] from the model's config",
    );
  });

  it("a 10 GB tensor claimed in a small file, and counts no file could hold", async () => {
    const huge = [{ name: "token_embd.weight", type: "F32" as const, dims: [64, 40_000_000], data: f32(16) }];
    expect(await refusal({ metadata: llamaMetadata, tensors: huge })).toMatch(
      /token_embd.weight claims 10240000000 bytes at \d+, past the end of the file/,
    );
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0x46554747, 0);
    header.writeUInt32LE(3, 4);
    header.writeBigUInt64LE(1n << 40n, 8);
    expect(await refusal(new Uint8Array(header))).toContain(
      "the tensor count (1099511627776) is more than the rest of the file could hold",
    );
  });
});
