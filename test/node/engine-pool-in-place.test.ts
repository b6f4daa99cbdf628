// A float32 pool is attended where it lies when that reads fewer bytes than gathering the rows'
// blocks (inPlaceWindow): the graph reads a window of whole chunks and masks every cell a row's
// table does not list. Both ways compute the same sums in a different order, so their logits agree
// to float32 rounding (1e-5). The engines here run on the CPU; test/webgpu/device-kv-pool.test.ts
// reads a device pool in place.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { blockRow } from "../../backend/engine/kv-pool.ts";
import { inPlaceWindow, stepLayout } from "../../backend/engine/step-layout.ts";
import { decodeGreedily, maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

useTempCache();

const blocksFrom = (first: number, count: number, stride = 1) =>
  Array.from({ length: count }, (_, i) => first + i * stride);

describe("inPlaceWindow: a decode step reads in place when its window of chunks is under twice the longest row's P", () => {
  const pool = {
    layers: 1,
    kvHeads: 8,
    blocks: 1000,
    blockSize: 16,
    headDim: 4,
    dtype: "float32",
    chunkBlocks: 16,
    place: "host",
  } as const;
  const device = { ...pool, place: "device" } as const;
  const row = (past: number, blocks: number[], tokens = 1) => ({
    past,
    tokens: new Array<number>(tokens).fill(1),
    blocks,
  });
  it("a decode over contiguous blocks reads the chunks that hold them, wherever they lie in the pool", () => {
    expect(inPlaceWindow([row(4096, blocksFrom(0, 257))], pool)).toEqual({ first: 0, chunks: 16 });
    expect(inPlaceWindow([row(4096, blocksFrom(328, 257))], pool)).toEqual({ first: 20, chunks: 17 });
    expect(inPlaceWindow([row(4096, blocksFrom(0, 256).reverse())], pool)).toEqual({ first: 0, chunks: 16 });
  });
  it("rows sharing a prefix read one window; rows that fill twice their longest row's blocks gather", () => {
    const long = blocksFrom(0, 257);
    expect(inPlaceWindow([row(4096, long), row(100, [...long.slice(0, 6), 300])], pool)).toEqual({
      first: 0,
      chunks: 19,
    });
    expect(inPlaceWindow([row(4096, long), row(4096, blocksFrom(256, 257))], pool)).toBeUndefined();
  });
  it("blocks spread over the pool gather, and so do a prefill and a step with nothing cached", () => {
    expect(inPlaceWindow([row(4096, blocksFrom(0, 257, 4))], pool)).toBeUndefined();
    expect(inPlaceWindow([row(4096, blocksFrom(0, 257), 256)], pool)).toBeUndefined();
    expect(inPlaceWindow([row(4096, blocksFrom(0, 257)), row(0, [300], 16)], pool)).toBeUndefined();
    expect(inPlaceWindow([row(0, [0])], pool)).toBeUndefined();
  });
  it("pool tables count from the window's first block, padded with the block past its end", () => {
    const rows = [row(200, blocksFrom(32, 13)), row(20, [33, 45])];
    const window = inPlaceWindow(rows, pool)!;
    expect(window).toEqual({ first: 2, chunks: 1 });
    const layout = stepLayout(rows, pool, window);
    expect(layout.poolTableWidth).toBe(13);
    expect([...layout.poolTables].map(Number)).toEqual([...blocksFrom(0, 13), 1, 13, ...new Array(11).fill(16)]);
    expect([layout.tableWidth, stepLayout(rows, pool).poolTableWidth]).toEqual([0, 0]);
  });
  it("on a device, windows begin at chunk 0, each row's first block is gathered, and no table is empty", () => {
    expect(inPlaceWindow([row(4096, blocksFrom(64, 257))], device)).toEqual({ first: 0, chunks: 20 });
    expect(inPlaceWindow([row(4096, blocksFrom(256, 257))], device)).toBeUndefined();
    expect(inPlaceWindow([row(4096, [900, ...blocksFrom(1, 256)])], device)).toEqual({ first: 0, chunks: 16 });
    expect(inPlaceWindow([row(16, [900])], device)).toBeUndefined();
    const rows = [row(200, blocksFrom(0, 13)), row(20, [1, 14])];
    const window = inPlaceWindow(rows, device)!;
    expect(window).toEqual({ first: 0, chunks: 1 });
    const layout = stepLayout(rows, device, window);
    expect([...layout.blockTables]).toEqual([0, 1].map((block) => blockRow(block, device)));
    expect([...layout.poolTables].map(Number)).toEqual([16, ...blocksFrom(1, 12), 16, 14, ...new Array(11).fill(16)]);
    const gathering = stepLayout(rows, device);
    expect([gathering.poolTableWidth, ...gathering.poolTables].map(Number)).toEqual([1, 1, 1]);
  });
});

describe("the fixture through a pool read in place", () => {
  // Blocks of one position, four sequences' pool: chunks of 64 blocks (kv-pool.ts). A sequence in one
  // chunk is read in place from its first decode step (case 3 has 40 tokens); spread over four
  // chunks it is gathered from.
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = await loadEngine({ model: fixture, threads: 2, contextLength: 64, blockSize: 1, kvCacheSequences: 4 });
  });
  afterAll(() => engine.close());

  it("generates transformers' greedy tokens reading the pool in place, as the same sequence gathered does", async () => {
    expect(engine.shape.kvBlocks).toBe(256);
    const reference = referenceCases[3];
    const decode = (blocks: number[]) => decodeGreedily(engine, reference.input_ids, blocks, 20);
    const inPlace = await decode(blocksFrom(64, 64).reverse()); // the second chunk, in reverse
    const gathered = await decode(blocksFrom(0, 64, 4)); // one block in four, chunks 0 to 3
    expect(inPlace.tokens).toEqual(reference.greedy_new_ids);
    expect(gathered.tokens).toEqual(reference.greedy_new_ids);
    expect(inPlace.inPlace.every(Boolean)).toBe(true);
    expect(gathered.inPlace).not.toContain(true);
    expect(maxDifference(inPlace.logits, gathered.logits)).toBeLessThan(1e-5);
  });
});

it("two rows sharing prefix blocks, read in place in one step, each equal to its own gathered step", async () => {
  const prompt = Array.from({ length: 56 }, (_, i) => referenceCases[3].input_ids[i % 40]);
  const engine = await loadEngine({ model: fixture, threads: 2, contextLength: 64, blockSize: 1, kvCacheSequences: 4 });
  // Blocks of one position: the long row's 57 positions take 57 blocks; the short one shares its
  // first 20 and has its own block for position 20. In the first chunk (64 blocks) both rows are one
  // window; spread one block in three over chunks 1 to 3, each row is gathered from.
  const steps = async (blocks: number[], together: boolean) => {
    const long = blocks.slice(0, 57);
    const short = [...long.slice(0, 20), blocks[57]];
    await engine.forward([{ blocks: long, past: 0, tokens: prompt }]);
    const rows = [
      { blocks: long, past: 56, tokens: [7] },
      { blocks: short, past: 20, tokens: [9] },
    ];
    if (together) return { logits: await engine.forward(rows), inPlace: engine.lastStepReadInPlace };
    const logits = [...(await engine.forward([rows[0]])), ...(await engine.forward([rows[1]]))];
    return { logits, inPlace: engine.lastStepReadInPlace };
  };
  try {
    const [inPlace, gathered] = [await steps(blocksFrom(0, 58), true), await steps(blocksFrom(64, 58, 3), false)];
    expect([inPlace.inPlace, gathered.inPlace]).toEqual([true, false]);
    inPlace.logits.forEach((logits, row) => expect(maxDifference(logits, gathered.logits[row])).toBeLessThan(1e-5));
  } finally {
    await engine.close();
  }
});
