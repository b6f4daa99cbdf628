import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine, SequenceChunk } from "../../backend/engine/engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import type { SamplingParams } from "../../backend/sampler/sampler.ts";
import { emptyBlockTable, KvCacheManager } from "../../backend/scheduler/kv-cache-manager.ts";
import { EngineCore } from "../../backend/inference/engine-core.ts";
import type { SchedulerConfig } from "../../backend/scheduler/scheduler.ts";
import type { RequestSpec, Sequence } from "../../backend/scheduler/sequence.ts";
import { loadTestEngine, maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

// The KV-cache manager alone, then block tables, prefix caching and admission through the scheduler on the real engine.
const longest = referenceCases[3].input_ids;

describe("KvCacheManager", () => {
  const tokens = (count: number, offset = 0) => Array.from({ length: count }, (_, i) => 1 + i + offset);

  it("allocates all or nothing, shares full blocks by reference and returns them on free", () => {
    const kv = new KvCacheManager(6, 4, false);
    const a = emptyBlockTable();
    expect(kv.allocate(a, 10)).toBe(true);
    expect(a.blocks).toHaveLength(3);
    expect(kv.allocate(emptyBlockTable(), 17)).toBe(false);
    expect(kv.freeBlocks).toBe(3);
    const b = emptyBlockTable();
    kv.share(b, a, 2);
    expect(kv.allocate(b, 10)).toBe(true);
    expect(b.blocks.slice(0, 2)).toEqual(a.blocks.slice(0, 2));
    expect(kv.freeBlocks).toBe(2);
    kv.free(a);
    expect(kv.freeBlocks).toBe(3); // the shared blocks are still b's
    kv.free(b);
    expect(kv.freeBlocks).toBe(6);
  });

  it("finds a finished sequence's full blocks by their chained hashes, short of the prompt's last token", () => {
    const kv = new KvCacheManager(8, 4, true);
    const prompt = tokens(10);
    const a = emptyBlockTable();
    kv.allocate(a, prompt.length);
    kv.commit(a, (from, to) => prompt.slice(from, to), prompt.length);
    kv.free(a);
    expect(kv.lookup(prompt)).toHaveLength(2);
    expect(kv.lookup(tokens(8))).toHaveLength(1); // 8 tokens: the second block would leave nothing to compute
    expect(kv.lookup([...tokens(4), 99, ...tokens(5, 5)])).toHaveLength(1); // a different second block
    expect(kv.lookup([99, ...tokens(9, 1)])).toHaveLength(0); // a different first block changes every later hash
    expect(new KvCacheManager(8, 4, false).lookup(prompt)).toEqual([]);
  });

  it("evicts cached blocks only when no empty block is left, least recently freed first, and forgets them", () => {
    const kv = new KvCacheManager(4, 2, true);
    const [first, second] = [tokens(3), tokens(3, 50)];
    for (const prompt of [first, second]) {
      const table = emptyBlockTable();
      kv.allocate(table, prompt.length);
      kv.commit(table, (from, to) => prompt.slice(from, to), prompt.length);
      kv.free(table);
    }
    expect(kv.freeBlocks).toBe(4);
    expect([kv.lookup(first), kv.lookup(second)].map((hit) => hit.length)).toEqual([1, 1]);
    const big = emptyBlockTable();
    expect(kv.allocate(big, 5)).toBe(true); // 2 empty blocks + 1 evicted: the first prompt's, freed earlier
    expect(kv.lookup(first)).toEqual([]);
    expect(kv.lookup(second)).toHaveLength(1);
    const revived = kv.lookup(second);
    expect(kv.allocate(emptyBlockTable(), 2, revived)).toBe(true);
    expect(kv.freeBlocks).toBe(0);
  });
});

useTempCache();
const greedy: SamplingParams = { temperature: 0, topP: 1, seed: 0, presencePenalty: 0, frequencyPenalty: 0 };
const sampled = (seed: number): SamplingParams => ({ ...greedy, temperature: 1, topP: 0.9, seed });
const spec = (prompt: number[], maxTokens: number, ...choices: SamplingParams[]): RequestSpec => ({
  prompt,
  maxTokens,
  choices: choices.length > 0 ? choices : [greedy],
});

let engine: OnnxEngine;
/** Every step's chunks and logits, recorded on the way through to the real engine. */
const steps: { chunks: SequenceChunk[]; logits: Float32Array[] }[] = [];
const recording: Engine = {
  get shape() {
    return engine.shape;
  },
  get transfers() {
    return engine.transfers;
  },
  get attentionReads() {
    return engine.attentionReads;
  },
  async forward(chunks) {
    // Logits for every chunk, to compare: the model runner samples them itself, with its planned draws' numbers.
    const logits = await engine.forward(chunks.map((chunk) => ({ ...chunk, draw: undefined })));
    steps.push({ chunks, logits });
    return logits;
  },
  copyBlock: (from, to) => engine.copyBlock(from, to),
  embed: (sequences, pooling) => engine.embed(sequences, pooling),
  close: () => engine.close(),
};

beforeAll(async () => {
  // 2 sequences of 64 tokens in blocks of 4: 32 blocks.
  engine = await loadTestEngine({ model: fixture, kvCacheSequences: 2, contextLength: 64, blockSize: 4, threads: 1 });
});
afterAll(() => engine.close());

function engineCore(config: Partial<SchedulerConfig> = {}): EngineCore {
  return new EngineCore(recording, { maxRunning: 4, maxWaiting: 16, stepTokens: 64, prefixCaching: true, ...config });
}

async function drain(s: EngineCore): Promise<void> {
  while (s.scheduler.hasWork) await s.step();
}

/** The logits the sequence sampled its first token from (the last step that fed its prompt's end). */
function firstLogits(from: number, prompt: number[]): Float32Array {
  for (const { chunks, logits } of steps.slice(from)) {
    const row = chunks.findIndex(
      (chunk) => chunk.past + chunk.tokens.length === prompt.length && chunk.tokens.at(-1) === prompt.at(-1),
    );
    if (row >= 0) return logits[row];
  }
  throw new Error("no step ended the prompt");
}

describe("prefix caching through the scheduler", () => {
  it("a second request sharing a prefix reuses its blocks, reports cached tokens and gets a cold run's logits", async () => {
    const s = engineCore();
    const [first] = s.scheduler.add(spec(longest, 3));
    await drain(s);
    expect(first.cachedTokens).toBe(0);

    const mark = steps.length;
    const turn = [...longest, ...first.generated, 7, 8, 9];
    const [second] = s.scheduler.add(spec(turn, 3));
    await drain(s);
    const reused = Math.floor((longest.length + first.generated.length - 1) / 4) * 4;
    expect(second.cachedTokens).toBe(reused);
    expect(steps[mark].chunks[0].past).toBe(reused); // only the rest was prefilled
    expect(s.scheduler.stats()).toMatchObject({
      prefix_cache_queries: longest.length + turn.length,
      prefix_cache_hits: reused,
    });

    const cold = engineCore({ prefixCaching: false });
    const coldMark = steps.length;
    const [alone] = cold.scheduler.add(spec(turn, 3));
    await drain(cold);
    expect(alone.cachedTokens).toBe(0);
    expect(maxDifference(firstLogits(mark, turn), firstLogits(coldMark, turn))).toBeLessThan(1e-4);
    expect(second.generated).toEqual(alone.generated);
  });

  it("a cache salt keeps tenants apart: only a request with the same salt finds the blocks", async () => {
    const s = engineCore();
    const [owner] = s.scheduler.add({ ...spec(longest, 2), cacheSalt: "tenant-a" });
    await drain(s);
    const [stranger] = s.scheduler.add({ ...spec(longest, 2), cacheSalt: "tenant-b" });
    const [unsalted] = s.scheduler.add(spec(longest, 2));
    await drain(s);
    const [sameTenant] = s.scheduler.add({ ...spec(longest, 2), cacheSalt: "tenant-a" });
    await drain(s);
    expect([owner, stranger, unsalted].map((sequence) => sequence.cachedTokens)).toEqual([0, 0, 0]);
    expect(sameTenant.cachedTokens).toBe(Math.floor((longest.length - 1) / 4) * 4);
    expect(sameTenant.generated).toEqual(owner.generated);
  });

  it("greedy output is the same with the cache on and off, over requests that share prefixes", async () => {
    const prompts = [longest, longest.slice(0, 13), [...longest.slice(0, 9), 5, 6, 7], longest];
    const run = async (prefixCaching: boolean) => {
      const s = engineCore({ prefixCaching });
      const sequences: Sequence[] = [];
      for (const prompt of prompts) {
        sequences.push(...s.scheduler.add(spec(prompt, 5)));
        await drain(s);
      }
      return { tokens: sequences.map((sequence) => sequence.generated), hits: s.scheduler.stats().prefix_cache_hits };
    };
    const [on, off] = [await run(true), await run(false)];
    expect(on.tokens).toEqual(off.tokens);
    expect(on.hits).toBeGreaterThan(0);
    expect(off.hits).toBe(0);
  });

  it("eviction under pressure leaves no stale block reachable: a request after eviction matches a cold run", async () => {
    const s = engineCore();
    const [first] = s.scheduler.add(spec(longest, 2));
    await drain(s);
    // Other prompts fill the pool, so the first prompt's cached blocks are evicted and their memory rewritten.
    for (let i = 0; i < 3; i++) {
      s.scheduler.add(
        spec(
          Array.from({ length: 50 }, (_, t) => 100 + i * 50 + t),
          8,
        ),
      );
      await drain(s);
    }
    const [again] = s.scheduler.add(spec(longest, 2));
    await drain(s);
    expect(again.cachedTokens).toBe(0);
    expect(again.generated).toEqual(first.generated);
  });

  it("a cancelled sequence's blocks return to the pool; its full blocks stay cached", async () => {
    const s = engineCore();
    const [sequence] = s.scheduler.add(spec(longest, 40));
    for (let i = 0; i < 3; i++) await s.step();
    expect(s.scheduler.stats().free_kv_cache_blocks).toBeLessThan(s.scheduler.stats().kv_cache_blocks);
    s.scheduler.abort(sequence, "stop");
    await s.step();
    expect(s.scheduler.stats()).toMatchObject({
      running: 0,
      free_kv_cache_blocks: s.scheduler.stats().kv_cache_blocks,
    });
    const [again] = s.scheduler.add(spec(longest, 1));
    await drain(s);
    expect(again.cachedTokens).toBeGreaterThan(0);
  });

  it("a request's n choices share their prompt's full blocks and copy only the partial last block", async () => {
    const s = engineCore();
    const prompt = longest.slice(0, 14);
    const choices = s.scheduler.add(spec(prompt, 4, sampled(1), sampled(2), sampled(3)));
    await s.step();
    const full = Math.floor(prompt.length / 4);
    for (const choice of choices.slice(1)) {
      expect(choice.blocks.blocks.slice(0, full)).toEqual(choices[0].blocks.blocks.slice(0, full));
      expect(choice.blocks.blocks[full]).not.toBe(choices[0].blocks.blocks[full]);
    }
    // One prompt's blocks plus a partial block per extra choice.
    expect(s.scheduler.stats().kv_cache_blocks - s.scheduler.stats().free_kv_cache_blocks).toBe(full + 1 + 2);
    await drain(s);
    for (const [i, choice] of choices.entries()) {
      const alone = engineCore({ prefixCaching: false });
      const [solo] = alone.scheduler.add(spec(prompt, 4, sampled(i + 1)));
      await drain(alone);
      expect(choice.generated).toEqual(solo.generated);
    }
  });
});

describe("admission by free blocks", () => {
  it("requests that do not fit the pool together wait or are preempted and recomputed; all finish as they would alone", async () => {
    // 32 blocks of 4 = 128 positions; four sequences of 20 + 30 tokens need 4 × 13 blocks.
    const prompts = Array.from({ length: 4 }, (_, i) =>
      Array.from({ length: 20 }, (_, t) => 1 + ((i * 31 + t * 7) % 300)),
    );
    const s = engineCore({ prefixCaching: false });
    const sequences = prompts.map((prompt) => s.scheduler.add(spec(prompt, 30))[0]);
    let mostRunning = 0;
    while (s.scheduler.hasWork) {
      await s.step();
      mostRunning = Math.max(mostRunning, s.scheduler.stats().running);
      expect(s.scheduler.stats().free_kv_cache_blocks).toBeGreaterThanOrEqual(0);
    }
    expect(sequences.map((sequence) => sequence.finish)).toEqual(["length", "length", "length", "length"]);
    expect(s.scheduler.stats().preemptions).toBeGreaterThan(0);
    expect(mostRunning).toBeLessThanOrEqual(4);
    for (const [i, prompt] of prompts.entries()) {
      const alone = engineCore({ prefixCaching: false });
      const [solo] = alone.scheduler.add(spec(prompt, 30));
      await drain(alone);
      expect(sequences[i].generated).toEqual(solo.generated);
    }
  });
});
