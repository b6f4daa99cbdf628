// Float16 weights (--dtype float16) on the device: WebGPU on lavapipe from Mesa 25, which has
// shader-f16 (CI unpacks it, see .ci/run). Each Gemm multiplies float16 weights by float16 inputs and
// rounds its output to float16, so a logit moves by up to a few float16 steps (measured: 1.0e-2 at
// most on the fixture's logits, mean KL to float32 1.3e-6); the argmax and greedy tokens do not move.
import { copyFileSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openCheckpoint, readWeight } from "../../backend/engine/checkpoint/checkpoint.ts";
import { writeSafetensors } from "../../backend/engine/checkpoint/safetensors-writer.ts";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { cachedModelGraph } from "../../backend/engine/graph/graph-cache.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { logSumExp } from "../../backend/sampler/logits.ts";
import { argmax } from "../../backend/sampler/sampler.ts";
import { loadTestEngine, maxDifference, useTempCache } from "../node/support/engine-helpers.ts";
import { fixture, referenceCases, referenceFloats } from "../node/support/fixture.ts";

useTempCache();
const options = { model: fixture, threads: 2, contextLength: 64, kvCacheSequences: 1, dtype: "float16" } as const;
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadTestEngine(options);
});
afterAll(() => engine.close());

it("matches transformers on every fixture case: argmax at every position, logsumexp and last logits within 0.05", async () => {
  const vocab = 32000;
  const evaluations = await engine.evaluate(referenceCases.map((c) => c.input_ids));
  evaluations.forEach(({ logits }, i) => {
    const reference = referenceCases[i];
    const rows = reference.input_ids.map((_, t) => logits.subarray(t * vocab, (t + 1) * vocab));
    expect(rows.map(argmax)).toEqual(reference.argmax);
    expect(maxDifference(rows.map(logSumExp), reference.logsumexp)).toBeLessThan(0.05);
    expect(maxDifference(rows[rows.length - 1], referenceFloats(reference.last_logits_f32_b64))).toBeLessThan(0.05);
  });
});

it("generates transformers' greedy tokens through the device KV cache", async () => {
  const reference = referenceCases[3];
  const blocks = reservedBlocks(engine.shape, 0).reverse();
  let [logits] = await engine.forward([{ blocks, past: 0, tokens: reference.input_ids }]);
  const generated: number[] = [];
  for (let step = 0; step < 20; step++) {
    generated.push(argmax(logits));
    [logits] = await engine.forward([{ blocks, past: reference.input_ids.length + step, tokens: [generated[step]] }]);
  }
  expect(generated).toEqual(reference.greedy_new_ids);
});

it("stores the weights in half the bytes of float32 (the norms and the router stay float32)", async () => {
  const checkpoint = await openCheckpoint(fixture);
  const bytes = async (dtype: "float32" | "float16") =>
    statSync(join(dirname(await cachedModelGraph(checkpoint, { dtype })), "model.data")).size;
  const [full, half] = [await bytes("float32"), await bytes("float16")];
  expect(half / full).toBeGreaterThan(0.5);
  expect(half / full).toBeLessThan(0.52);
});

it("refuses a checkpoint whose weights exceed float16's range, naming the tensor", async () => {
  const checkpoint = await openCheckpoint(fixture);
  const dir = mkdtempSync(join(tmpdir(), "moxie-f16-range-"));
  copyFileSync(join(fixture, "config.json"), join(dir, "config.json"));
  const tooLarge = "model.layers.0.self_attn.o_proj.weight";
  const specs = [...checkpoint.tensors.values()].map(({ name, shape }) => ({ name, shape }));
  writeSafetensors(
    dir,
    specs,
    ({ name }) => {
      const values = readWeight(checkpoint, name);
      if (name === tooLarge) values[5] = 1e5;
      return values;
    },
    "F32",
  );
  await expect(loadTestEngine({ ...options, model: dir })).rejects.toThrow(
    /o_proj\.weight: the weight 100000 exceeds float16's range; use --dtype float32 or --quantize/,
  );
});
