// A host float32 pool is attended where it lies when that reads fewer bytes than gathering the
// rows' blocks (readsInPlace): the graph masks every cell a row's table does not list. Both ways
// compute the same sums in a different order, so their logits agree to float32 rounding (1e-5).
// Every engine here runs on the CPU: reading in place is the CPU EP's (readsPoolInPlace).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../../backend/engine/checkpoint/checkpoint.ts";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { kvBytesPerToken } from "../../backend/engine/parameters.ts";
import { readsInPlace } from "../../backend/engine/step-layout.ts";
import { argmax } from "../../backend/sampler/sampler.ts";
import { maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

useTempCache();

describe("readsInPlace: a decode step in place when the pool's N cells are under twice the longest row's P", () => {
  const row = (past: number, tokens = 1) => ({ past, tokens: new Array<number>(tokens).fill(1), blocks: [] });
  it("a decode reads a pool under twice its longest row in place, and gathers from a larger one", () => {
    expect(readsInPlace([row(4096)], 16, 4112)).toBe(true);
    expect(readsInPlace([row(4096), row(100)], 16, 8000)).toBe(true);
    expect(readsInPlace([row(4096)], 16, 8208)).toBe(false);
    expect(readsInPlace([row(4096), row(4096)], 16, 8224)).toBe(false);
  });
  it("a step with a prefill in it gathers, and so does one with nothing cached", () => {
    expect(readsInPlace([row(4096, 256)], 16, 4112)).toBe(false);
    expect(readsInPlace([row(4096), row(0, 16)], 16, 4112)).toBe(false);
    expect(readsInPlace([row(0)], 16, 64)).toBe(false);
  });
});

describe("the fixture through a pool read in place", () => {
  const options = { model: fixture, threads: 2, contextLength: 64, blockSize: 4 } as const;
  let tight: OnnxEngine; // one sequence's pool: a decode past 34 cached tokens (case 3 has 40) reads it in place
  let roomy: OnnxEngine; // four sequences' pool: every step gathers
  beforeAll(async () => {
    tight = await loadEngine({ ...options, kvCacheSequences: 1 });
    roomy = await loadEngine({ ...options, kvCacheSequences: 4 });
  });
  afterAll(async () => {
    await tight.close();
    await roomy.close();
  });

  it("generates transformers' greedy tokens reading the pool in place, as the gathering engine does", async () => {
    const reference = referenceCases[3];
    const decode = async (engine: OnnxEngine) => {
      const blocks = reservedBlocks(engine.shape, 0).reverse();
      let [logits] = await engine.forward([{ blocks, past: 0, tokens: reference.input_ids }]);
      const tokens: number[] = [];
      const inPlace: boolean[] = [];
      for (let step = 0; step < 20; step++) {
        tokens.push(argmax(logits));
        [logits] = await engine.forward([{ blocks, past: reference.input_ids.length + step, tokens: [tokens[step]] }]);
        inPlace.push(engine.lastStepReadInPlace);
      }
      return { tokens, inPlace, logits };
    };
    const [inPlace, gathered] = [await decode(tight), await decode(roomy)];
    expect(inPlace.tokens).toEqual(reference.greedy_new_ids);
    expect(gathered.tokens).toEqual(reference.greedy_new_ids);
    expect(inPlace.inPlace).toContain(true);
    expect(inPlace.inPlace.at(-1)).toBe(true);
    expect(gathered.inPlace).not.toContain(true);
    expect(maxDifference(inPlace.logits, gathered.logits)).toBeLessThan(1e-5);
  });
});

it("two rows sharing prefix blocks, read in place in one step, each equal to its own gathered step", async () => {
  const { config } = await openCheckpoint(fixture);
  const blockSize = 4;
  const prompt = Array.from({ length: 60 }, (_, i) => referenceCases[3].input_ids[i % 40]);
  // 26 blocks (104 tokens) hold the long row's 61 positions and the short one's own block, and are
  // under twice the long row: the two-row decode reads in place.
  const tight = await loadEngine({
    model: fixture,
    threads: 2,
    contextLength: 64,
    blockSize,
    kvCacheMemory: 104 * kvBytesPerToken(config, 4),
  });
  const roomy = await loadEngine({ model: fixture, threads: 2, contextLength: 64, blockSize, kvCacheSequences: 4 });
  const steps = async (engine: OnnxEngine, together: boolean) => {
    const long = Array.from({ length: 16 }, (_, i) => i);
    const short = [...long.slice(0, 5), 20]; // positions 0-19 shared, its own block for position 20
    await engine.forward([{ blocks: long, past: 0, tokens: prompt }]);
    const rows = [
      { blocks: long, past: 60, tokens: [7] },
      { blocks: short, past: 20, tokens: [9] },
    ];
    if (together) return { logits: await engine.forward(rows), inPlace: engine.lastStepReadInPlace };
    const logits = [...(await engine.forward([rows[0]])), ...(await engine.forward([rows[1]]))];
    return { logits, inPlace: engine.lastStepReadInPlace };
  };
  try {
    const [inPlace, gathered] = [await steps(tight, true), await steps(roomy, false)];
    expect([inPlace.inPlace, gathered.inPlace]).toEqual([true, false]);
    inPlace.logits.forEach((logits, row) => expect(maxDifference(logits, gathered.logits[row])).toBeLessThan(1e-5));
  } finally {
    await tight.close();
    await roomy.close();
  }
});
