import { afterAll, beforeAll, expect, it } from "vitest";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { compareLogits } from "../../bench/quality.ts";
import { maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

// --kv-cache-dtype float16 against the float32 cache, on the fixture: half the bytes, logits within float16 rounding.
useTempCache();
const tokens = referenceCases[3].input_ids;
let full: OnnxEngine;
let half: OnnxEngine;

beforeAll(async () => {
  const options = { model: fixture, kvCacheSequences: 1, contextLength: 64, threads: 1 };
  full = await loadEngine(options);
  half = await loadEngine({ ...options, kvCacheDtype: "float16" });
});
afterAll(async () => {
  await full.close();
  await half.close();
});

/** The last-position logits of a prefill of all but `decoded` tokens, then of each remaining token decoded one step at a time. */
async function decodeLogits(engine: OnnxEngine, decoded: number): Promise<Float32Array[]> {
  const blocks = reservedBlocks(engine.shape, 0);
  const prefill = tokens.length - decoded;
  const logits = await engine.forward([{ blocks, past: 0, tokens: tokens.slice(0, prefill) }]);
  for (let past = prefill; past < tokens.length; past++)
    logits.push(...(await engine.forward([{ blocks, past, tokens: [tokens[past]] }])));
  return logits;
}

const joined = (rows: Float32Array[]) => Float32Array.from(rows.flatMap((row) => Array.from(row)));

it("a float16 cache holds a token in half the bytes, and decoding through it stays within float16 rounding of float32", async () => {
  expect(half.shape.kvBytesPerToken).toBe(full.shape.kvBytesPerToken / 2);
  const [reference, candidate] = [await decodeLogits(full, 8), await decodeLogits(half, 8)];
  const difference = maxDifference(joined(reference), joined(candidate));
  const quality = compareLogits(joined(reference), joined(candidate), full.shape.vocabSize);
  console.log(
    `float16 KV cache vs float32: max logit difference ${difference.toExponential(2)}, mean KL ${quality.meanKl.toExponential(2)}`,
  );
  expect(difference).toBeGreaterThan(0); // the cache really holds float16
  expect(difference).toBeLessThan(1e-2);
  expect(quality.meanKl).toBeLessThan(1e-5);
});

it("under float16 a position reads the same values in the step that computes it as from the cache later", async () => {
  const blocks = reservedBlocks(half.shape, 0);
  const [whole] = await half.forward([{ blocks, past: 0, tokens }]);
  const split = tokens.length >> 1;
  await half.forward([{ blocks, past: 0, tokens: tokens.slice(0, split) }]);
  const [resumed] = await half.forward([{ blocks, past: split, tokens: tokens.slice(split) }]);
  // What float32 gets for the same split (summation order alone); float16 rounding would be ~1e-3.
  expect(maxDifference(whole, resumed)).toBeLessThan(1e-4);
});
