import { afterAll, beforeAll, expect, it } from "vitest";
import { EngineInputError, type OnnxEngine } from "../../gpu-backend/engine/onnx-engine.ts";
import { loadEngine } from "../../gpu-backend/engine/load-engine.ts";
import { maxDifference, useTempCache } from "./engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

const cases = referenceCases.map((c) => c.input_ids);

useTempCache();
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadEngine({ model: fixture, threads: 2, maxSeqs: 4, contextLength: 64 });
});
afterAll(() => engine.close());

it("a step mixing prefills and decodes of different lengths gives each sequence its solo logits", async () => {
  // Solo: each sequence alone in slot 0; the decode row continues case 1 with one more token.
  const solo: Float32Array[] = [];
  for (const ids of [cases[2], cases[3]]) {
    [solo[solo.length]] = await engine.forward([{ slot: 0, tokens: ids }]);
    engine.release(0);
  }
  await engine.forward([{ slot: 0, tokens: cases[1] }]);
  const [decodeSolo] = await engine.forward([{ slot: 0, tokens: [9] }]);
  engine.release(0);

  await engine.forward([{ slot: 3, tokens: cases[1] }]);
  const mixed = await engine.forward([
    { slot: 1, tokens: cases[2] },
    { slot: 3, tokens: [9] },
    { slot: 2, tokens: cases[3] },
  ]);
  expect(maxDifference(mixed[0], solo[0])).toBeLessThan(1e-4);
  expect(maxDifference(mixed[1], decodeSolo)).toBeLessThan(1e-4);
  expect(maxDifference(mixed[2], solo[1])).toBeLessThan(1e-4);
  expect([1, 2, 3].map((slot) => engine.length(slot))).toEqual([cases[2].length, cases[3].length, cases[1].length + 1]);

  // Then a decode step over all three slots at once, against each continued alone.
  const together = await engine.forward([1, 2, 3].map((slot) => ({ slot, tokens: [5] })));
  for (const [i, ids] of [cases[2], cases[3], [...cases[1], 9]].entries()) {
    engine.release(0);
    const [alone] = await engine.forward([{ slot: 0, tokens: [...ids, 5] }]);
    expect(maxDifference(together[i], alone)).toBeLessThan(1e-4);
  }
  for (const slot of [0, 1, 2, 3]) engine.release(slot);
});

it("prompts longer than one step's budget run in rounds with the same logits", async () => {
  const chunked = await loadEngine({ model: fixture, threads: 1, maxSeqs: 2, contextLength: 64, stepTokens: 7 });
  try {
    const mixedLengths = [
      { slot: 0, tokens: cases[3] },
      { slot: 1, tokens: cases[1] },
    ];
    const [long, short] = await chunked.forward(mixedLengths);
    const [longWhole, shortWhole] = await engine.forward(mixedLengths.map((chunk, i) => ({ ...chunk, slot: i + 2 })));
    expect(maxDifference(long, longWhole)).toBeLessThan(1e-4);
    expect(maxDifference(short, shortWhole)).toBeLessThan(1e-4);
    expect([chunked.length(0), chunked.length(1)]).toEqual([cases[3].length, cases[1].length]);
  } finally {
    await chunked.close();
    engine.release(2);
    engine.release(3);
  }
});

it("copySlot shares a prefill: the copy and its source decode like a fresh run of the prompt", async () => {
  await engine.forward([{ slot: 2, tokens: cases[3] }]);
  await engine.forward([{ slot: 1, tokens: cases[2] }]);
  // The destination held a longer sequence: only the copied prefix and length count afterwards.
  engine.copySlot(1, 2);
  expect([engine.length(1), engine.length(2)]).toEqual([cases[2].length, cases[2].length]);
  const [source] = await engine.forward([{ slot: 1, tokens: [5] }]);
  const [copy] = await engine.forward([{ slot: 2, tokens: [5] }]);
  await engine.forward([{ slot: 0, tokens: cases[2] }]);
  const [fresh] = await engine.forward([{ slot: 0, tokens: [5] }]);
  expect(copy).toEqual(source);
  expect(maxDifference(copy, fresh)).toBeLessThan(1e-5);
  expect(() => engine.copySlot(1, 4)).toThrow(EngineInputError);
  for (const slot of [0, 1, 2]) engine.release(slot);
});

it("embeddings are pooled, unit-length and independent of batching", async () => {
  const [a, b] = await engine.embed([cases[1], cases[2]], "mean");
  const [alone] = await engine.embed([cases[2]], "mean");
  expect(a).toHaveLength(64);
  expect(Math.hypot(...a)).toBeCloseTo(1, 5);
  expect(maxDifference(b, alone)).toBeLessThan(1e-5);
  const [last] = await engine.embed([cases[2]], "last");
  expect(maxDifference(last, alone)).toBeGreaterThan(1e-3);
});

it("rejects bad steps with clear errors", async () => {
  await expect(engine.forward([{ slot: 9, tokens: [1] }])).rejects.toThrow(EngineInputError);
  await expect(engine.forward([{ slot: 0, tokens: [32000] }])).rejects.toThrow(/outside the vocabulary/);
  await expect(engine.forward([{ slot: 0, tokens: [1] }, { slot: 0, tokens: [2] }])).rejects.toThrow(/twice/);
  await expect(engine.forward([{ slot: 0, tokens: new Array(65).fill(1) }])).rejects.toThrow(/context length 64/);
  expect(engine.length(0)).toBe(0);
});
