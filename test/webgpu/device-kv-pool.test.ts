// The KV pool on the device (WebGPU on SwiftShader in CI): written in place by the graph, read in
// place by a decode step whose window begins at its first chunk, and a decode step moves the same
// bytes between host and device at any cached length. WebGPU's float32 kernels sum in other orders
// than the CPU's, and reading in place sums in another order than gathering: 1e-4 on logits.
import { afterAll, beforeAll, expect, it } from "vitest";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { decodeGreedily, loadTestEngine, maxDifference, useTempCache } from "../node/support/engine-helpers.ts";
import { fixture, referenceCases } from "../node/support/fixture.ts";

useTempCache();
const poolBytes = 2 ** 30;
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadTestEngine({
    model: fixture,
    threads: 2,
    contextLength: 2048,
    kvCacheMemory: poolBytes,
    maxSeqs: 2,
  });
});
afterAll(() => engine.close());

const prompt = referenceCases[0].input_ids;
const greedy = { temperature: 0, uniform: 0 };

it("writes new keys and values in place: decoding grows the process by far less than one layer's pool", async () => {
  const blocks = reservedBlocks(engine.shape, 0);
  let [token] = (await engine.forward([{ blocks, past: 0, tokens: prompt, draw: greedy }])) as number[];
  await engine.forward([{ blocks, past: prompt.length, tokens: [token], draw: greedy }]); // compiles the decode kernels
  const before = process.memoryUsage().rss;
  for (let step = 1; step <= 8; step++)
    [token] = (await engine.forward([
      { blocks, past: prompt.length + step, tokens: [token], draw: greedy },
    ])) as number[];
  // A pool that ORT copied instead of writing in place would hold a second buffer of a layer's pool (256 MiB here).
  const layerPool = poolBytes / (2 * engine.config.layers);
  const grown = process.memoryUsage().rss - before;
  console.log(
    `8 decode steps grew the process by ${(grown / 2 ** 20).toFixed(1)} MiB; one layer's pool is ${layerPool / 2 ** 20} MiB`,
  );
  expect(grown).toBeLessThan(layerPool / 4);
});

it("uploads and downloads the same bytes per decode step at 16 and at 1,600 cached tokens, but for the block table", async () => {
  const decodeAt = async (depth: number) => {
    const blocks = reservedBlocks(engine.shape, 1);
    const tokens = Array.from({ length: depth }, (_, i) => 1 + ((i * 7) % 300));
    for (let past = 0; past < depth; past += 256)
      await engine.forward([{ blocks, past, tokens: tokens.slice(past, past + 256), draw: greedy }]);
    await engine.forward([{ blocks, past: depth, tokens: [5], draw: greedy }]);
    return { ...engine.lastStepTransfers, tableEntries: Math.ceil(depth / engine.shape.blockSize) };
  };
  const shallow = await decodeAt(16);
  const deep = await decodeAt(1600);
  expect(deep.downloaded).toBe(8); // the drawn token id
  expect(deep.downloaded).toBe(shallow.downloaded);
  expect(deep.uploaded - shallow.uploaded).toBe(
    Int32Array.BYTES_PER_ELEMENT * (deep.tableEntries - shallow.tableEntries),
  );
});

it("reads a window of the device pool in place from its first chunk, with the tokens and logits of gathering", async () => {
  // Blocks of one position, four sequences' pool: chunks of 64 blocks. In chunk 0 a sequence is read
  // in place from its first decode step; in chunk 1 its window would have to begin at chunk 0
  // (a device buffer is viewed only from its start), too wide, so it is gathered from.
  const small = await loadTestEngine({
    model: fixture,
    threads: 2,
    contextLength: 64,
    blockSize: 1,
    kvCacheSequences: 4,
  });
  const reference = referenceCases[3];
  const decode = (blocks: number[]) => decodeGreedily(small, reference.input_ids, blocks, 6);
  try {
    const chunk = (first: number) => Array.from({ length: 64 }, (_, i) => first + 63 - i);
    const [inPlace, gathered] = [await decode(chunk(0)), await decode(chunk(64))];
    expect(inPlace.tokens).toEqual(reference.greedy_new_ids.slice(0, 6));
    expect(gathered.tokens).toEqual(inPlace.tokens);
    expect(inPlace.inPlace.every(Boolean)).toBe(true);
    expect(gathered.inPlace).not.toContain(true);
    expect(maxDifference(inPlace.logits, gathered.logits)).toBeLessThan(1e-4);
  } finally {
    await small.close();
  }
});
