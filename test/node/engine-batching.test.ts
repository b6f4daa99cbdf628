import { afterAll, beforeAll, expect, it } from "vitest";
import { EngineInputError, type OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { loadTestEngine, maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

const cases = referenceCases.map((c) => c.input_ids);

useTempCache();
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadTestEngine({ model: fixture, threads: 2, kvCacheSequences: 4, contextLength: 64, blockSize: 8 });
});
afterAll(() => engine.close());
/** Sequence i's own blocks. */
const table = (i: number) => reservedBlocks(engine.shape, i);

it("a step mixing prefills and decodes of different lengths gives each sequence its solo logits", async () => {
  // Solo: each sequence alone on blocks 0; the decode row continues case 1 with one more token.
  const solo: Float32Array[] = [];
  for (const ids of [cases[2], cases[3]])
    [solo[solo.length]] = await engine.forward([{ blocks: table(0), past: 0, tokens: ids }]);
  await engine.forward([{ blocks: table(0), past: 0, tokens: cases[1] }]);
  const [decodeSolo] = await engine.forward([{ blocks: table(0), past: cases[1].length, tokens: [9] }]);

  await engine.forward([{ blocks: table(3), past: 0, tokens: cases[1] }]);
  const mixed = await engine.forward([
    { blocks: table(1), past: 0, tokens: cases[2] },
    { blocks: table(3), past: cases[1].length, tokens: [9] },
    { blocks: table(2), past: 0, tokens: cases[3] },
  ]);
  expect(maxDifference(mixed[0], solo[0])).toBeLessThan(1e-4);
  expect(maxDifference(mixed[1], decodeSolo)).toBeLessThan(1e-4);
  expect(maxDifference(mixed[2], solo[1])).toBeLessThan(1e-4);

  // Then a decode step over all three at once, against each continued alone.
  const histories = [cases[2], [...cases[1], 9], cases[3]];
  const together = await engine.forward(
    [1, 3, 2].map((i, row) => ({ blocks: table(i), past: histories[row].length, tokens: [5] })),
  );
  for (const [row, ids] of histories.entries()) {
    const [alone] = await engine.forward([{ blocks: table(0), past: 0, tokens: [...ids, 5] }]);
    expect(maxDifference(together[row], alone)).toBeLessThan(1e-4);
  }
});

it("prompts longer than one step's budget run in rounds with the same logits", async () => {
  const chunked = await loadTestEngine({
    model: fixture,
    threads: 1,
    kvCacheSequences: 2,
    contextLength: 64,
    stepTokens: 7,
  });
  try {
    const blocks = (i: number) => reservedBlocks(chunked.shape, i);
    const [long, short] = await chunked.forward([
      { blocks: blocks(0), past: 0, tokens: cases[3] },
      { blocks: blocks(1), past: 0, tokens: cases[1] },
    ]);
    const [longWhole, shortWhole] = await engine.forward([
      { blocks: table(2), past: 0, tokens: cases[3] },
      { blocks: table(3), past: 0, tokens: cases[1] },
    ]);
    expect(maxDifference(long, longWhole)).toBeLessThan(1e-4);
    expect(maxDifference(short, shortWhole)).toBeLessThan(1e-4);
  } finally {
    await chunked.close();
  }
});

it("two sequences share a prefill's full blocks and copy only its partial last block", async () => {
  const source = table(1);
  const prompt = cases[2];
  const full = Math.floor(prompt.length / engine.shape.blockSize);
  expect(prompt.length % engine.shape.blockSize).not.toBe(0);
  await engine.forward([{ blocks: source, past: 0, tokens: prompt }]);
  const copy = [...source.slice(0, full), ...table(2).slice(full)];
  engine.copyBlock(source[full], copy[full]);
  const [fromSource, fromCopy] = await engine.forward([
    { blocks: source, past: prompt.length, tokens: [5] },
    { blocks: copy, past: prompt.length, tokens: [5] },
  ]);
  const [fresh] = await engine.forward([{ blocks: table(0), past: 0, tokens: [...prompt, 5] }]);
  expect(fromCopy).toEqual(fromSource);
  expect(maxDifference(fromCopy, fresh)).toBeLessThan(1e-4);
  expect(() => engine.copyBlock(0, engine.shape.kvBlocks)).toThrow(EngineInputError);
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
  await expect(engine.forward([{ blocks: [engine.shape.kvBlocks], past: 0, tokens: [1] }])).rejects.toThrow(
    /KV block \d+ does not exist/,
  );
  await expect(engine.forward([{ blocks: table(0), past: 0, tokens: [32000] }])).rejects.toThrow(
    /outside the vocabulary/,
  );
  await expect(
    engine.forward([
      { blocks: table(0), past: 0, tokens: [1] },
      { blocks: table(0), past: 0, tokens: [2] },
    ]),
  ).rejects.toThrow(/written by two sequences/);
  await expect(engine.forward([{ blocks: table(0), past: 0, tokens: new Array(65).fill(1) }])).rejects.toThrow(
    /context length 64/,
  );
  await expect(engine.forward([{ blocks: [0], past: 5, tokens: [1, 2, 3, 4] }])).rejects.toThrow(
    /1 blocks of 8 cannot hold 9 positions/,
  );
});
