import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openCheckpoint, readWeight } from "../../backend/engine/checkpoint/checkpoint.ts";
import { writeRandomCheckpoint } from "../../backend/engine/checkpoint/random-checkpoint.ts";
import { writeSafetensors } from "../../backend/engine/checkpoint/safetensors-writer.ts";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import { referenceLogits } from "./support/engine-reference-model.ts";
import { maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture } from "./support/fixture.ts";

useTempCache();
const root = mkdtempSync(join(tmpdir(), "moxie-checkpoints-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A small config in transformers-5 style; tests override what they exercise. */
const smallConfig = (overrides: Record<string, unknown> = {}) => ({
  architectures: ["MixtralForCausalLM"],
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: null,
  num_local_experts: 4,
  num_experts_per_tok: 2,
  vocab_size: 300,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_parameters: { rope_theta: 10000.0, rope_type: "default" },
  sliding_window: null,
  tie_word_embeddings: false,
  dtype: "float32",
  initializer_range: 0.2,
  ...overrides,
});

let counter = 0;
function randomCheckpoint(config: Record<string, unknown>, dtype: "F32" | "BF16" | "F16" = "F32"): string {
  const dir = join(root, `model-${counter++}`);
  writeRandomCheckpoint(dir, config, { seed: counter, dtype });
  return dir;
}

const tokens = [1, 17, 250, 3, 99, 42, 7, 7, 180, 64, 2, 299];

/**
 * Every position's logits from one evaluation, and the last ones when fed token by token through the
 * cache: blocks of one position, so the pool's first chunk (16 positions) is the window that the
 * steps past 8 cached tokens read in place (inPlaceWindow).
 */
async function expectMatchesReference(dir: string) {
  const checkpoint = await openCheckpoint(dir);
  const expected = referenceLogits(checkpoint, tokens);
  const engine = await loadEngine({ model: dir, threads: 2, kvCacheSequences: 1, contextLength: 16, blockSize: 1 });
  try {
    const vocab = checkpoint.config.vocabSize;
    const [evaluation] = await engine.evaluate([tokens]);
    expected.forEach((row, t) =>
      expect(maxDifference(evaluation.logits.subarray(t * vocab, (t + 1) * vocab), row)).toBeLessThan(1e-3),
    );
    const blocks = reservedBlocks(engine.shape, 0);
    const [prefill] = await engine.forward([{ blocks, past: 0, tokens: tokens.slice(0, 3) }]);
    expect(maxDifference(prefill, expected[2])).toBeLessThan(1e-3);
    const readInPlace: boolean[] = [];
    for (let t = 3; t < tokens.length; t++) {
      const [logits] = await engine.forward([{ blocks, past: t, tokens: [tokens[t]] }]);
      expect(maxDifference(logits, expected[t])).toBeLessThan(1e-3);
      readInPlace.push(engine.lastStepReadInPlace);
    }
    expect(readInPlace).toEqual([false, false, false, false, false, false, true, true, true]);
  } finally {
    await engine.close();
  }
}

describe("against a direct float64 computation", () => {
  it("a prompt longer than 4096 tokens on a model with an 8192-token context, prefilled in rounds through the block cache, then decoded", async () => {
    const dir = randomCheckpoint(smallConfig({ max_position_embeddings: 8192, vocab_size: 64, num_hidden_layers: 1 }));
    const checkpoint = await openCheckpoint(dir);
    const long = Array.from({ length: 4200 }, (_, i) => 1 + ((i * 37) % 63));
    const expected = referenceLogits(checkpoint, long);
    const engine = await loadEngine({ model: dir, threads: 2, kvCacheSequences: 1 });
    try {
      expect(engine.shape.contextLength).toBe(8192);
      const blocks = reservedBlocks(engine.shape, 0);
      const [prefill] = await engine.forward([{ blocks, past: 0, tokens: long.slice(0, 4197) }]);
      expect(maxDifference(prefill, expected[4196])).toBeLessThan(1e-3);
      for (let t = 4197; t < long.length; t++) {
        const [logits] = await engine.forward([{ blocks, past: t, tokens: [long[t]] }]);
        expect(maxDifference(logits, expected[t])).toBeLessThan(1e-3);
      }
    } finally {
      await engine.close();
    }
  });

  it("Mixtral with a sliding window shorter than the sequence (evaluation and KV cache)", async () => {
    await expectMatchesReference(randomCheckpoint(smallConfig({ sliding_window: 4 })));
  });

  it("dense MistralForCausalLM with a sliding window", async () => {
    await expectMatchesReference(
      randomCheckpoint(smallConfig({ architectures: ["MistralForCausalLM"], sliding_window: 5 })),
    );
  });

  it("LlamaForCausalLM with tied embeddings and an explicit head_dim", async () => {
    await expectMatchesReference(
      randomCheckpoint(
        smallConfig({
          architectures: ["LlamaForCausalLM"],
          tie_word_embeddings: true,
          head_dim: 32,
          num_attention_heads: 4,
        }),
      ),
    );
  });

  it("bf16 and f16 checkpoints", async () => {
    await expectMatchesReference(randomCheckpoint(smallConfig(), "BF16"));
    await expectMatchesReference(randomCheckpoint(smallConfig(), "F16"));
  });
});

it("a sharded checkpoint with a transformers-4 config gives the fixture's logits", async () => {
  const original = await openCheckpoint(fixture);
  const dir = join(root, "sharded");
  writeRandomCheckpoint(dir, smallConfig(), { configOnly: true });
  const specs = [...original.tensors.values()].map(({ name, shape }) => ({ name, shape }));
  writeSafetensors(dir, specs, (spec) => readWeight(original, spec.name), "F32", 3);
  // transformers 4 style: top-level rope_theta, torch_dtype, no head_dim key.
  const config = smallConfig({
    hidden_size: 64,
    intermediate_size: 128,
    num_local_experts: 8,
    vocab_size: 32000,
    max_position_embeddings: 4096,
    torch_dtype: "float32",
    rope_theta: 1e6,
  });
  for (const key of ["rope_parameters", "dtype", "head_dim"] as const) delete (config as Record<string, unknown>)[key];
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const sharded = await openCheckpoint(dir);
  expect(sharded.files).toHaveLength(3);
  const [originalEngine, copy] = await Promise.all(
    [fixture, dir].map((model) => loadEngine({ model, threads: 1, kvCacheSequences: 1, contextLength: 16 })),
  );
  const ids = [1, 415, 2936, 9060, 285, 1142];
  const [[a], [b]] = await Promise.all([originalEngine.evaluate([ids]), copy.evaluate([ids])]);
  expect(maxDifference(a.logits, b.logits)).toBeLessThan(1e-5);
  await Promise.all([originalEngine.close(), copy.close()]);
});

describe("refuses a broken checkpoint with a message naming the problem", () => {
  const base = () => randomCheckpoint(smallConfig({ num_hidden_layers: 1 }));

  it("unsupported architecture", async () => {
    const dir = base();
    writeFileSync(join(dir, "config.json"), JSON.stringify(smallConfig({ architectures: ["GPT2LMHeadModel"] })));
    await expect(loadEngine({ model: dir })).rejects.toThrow(/unsupported architecture GPT2LMHeadModel/);
  });

  it("unsupported dtype", async () => {
    const dir = base();
    writeFileSync(join(dir, "config.json"), JSON.stringify(smallConfig({ dtype: "float64" })));
    await expect(loadEngine({ model: dir })).rejects.toThrow(/unsupported dtype float64/);
  });

  it("missing tensor and wrong shape", async () => {
    const dir = base();
    const checkpoint = await openCheckpoint(dir);
    const specs = [...checkpoint.tensors.values()].map(({ name, shape }) => ({ name, shape }));
    const values = (spec: { name: string; shape: number[] }) => new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    writeSafetensors(
      dir,
      specs.filter((spec) => spec.name !== "model.norm.weight"),
      values,
      "F32",
    );
    await expect(loadEngine({ model: dir })).rejects.toThrow(/missing tensor model\.norm\.weight/);
    writeSafetensors(
      dir,
      specs.map((spec) => (spec.name === "model.norm.weight" ? { ...spec, shape: [63] } : spec)),
      values,
      "F32",
    );
    await expect(loadEngine({ model: dir })).rejects.toThrow(
      /tensor model\.norm\.weight has shape \[63\], expected \[64\]/,
    );
  });

  it("a folder without config.json, and a path that does not exist", async () => {
    mkdirSync(join(root, "empty"));
    await expect(loadEngine({ model: join(root, "empty") })).rejects.toThrow(/config\.json: not found/);
    await expect(loadEngine({ model: join(root, "nowhere") })).rejects.toThrow(/nowhere: no such file or folder/);
  });
});

it("refuses float16 weights on the CPU, where they would take more memory, pointing at int8", async () => {
  await expect(loadEngine({ model: fixture, dtype: "float16" })).rejects.toThrow(
    /--dtype float16 is for a GPU \(--execution-provider webgpu\).*--quantize int8 halves the weights/,
  );
});
