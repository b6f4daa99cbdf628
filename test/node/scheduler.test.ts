import { describe, expect, it } from "vitest";
import { EngineCore } from "../../backend/inference/engine-core.ts";
import { RequestError } from "../../backend/request-error.ts";
import type { TokenConstraint } from "../../backend/sampler/token-constraint.ts";
import { Scheduler, type SchedulerConfig } from "../../backend/scheduler/scheduler.ts";
import type { RequestSpec } from "../../backend/scheduler/sequence.ts";
import { FakeEngine, fakeGreedy } from "./support/fake-engine.ts";
import { greedy, sampled, spec } from "./support/request-specs.ts";

// The scheduler's policies, driven through the step loop (EngineCore) against a fake engine: no
// model, milliseconds a test. What needs the real numerics is in engine-core.test.ts.
const prompt = (length: number, offset = 0) => Array.from({ length }, (_, i) => 3 + ((i * 7 + offset) % 60));
const short = prompt(6);
const medium = prompt(17, 1);
const long = prompt(40, 2);

const slots = 4;
const contextLength = 64;

/** A fresh fake engine (4 sequences of 64 positions in blocks of 4) and a step loop on it. */
function engineCore(config: Partial<SchedulerConfig> = {}, engine = new FakeEngine({ contextLength })): EngineCore {
  return new EngineCore(engine, { maxRunning: slots, maxWaiting: 64, stepTokens: 16, prefixCaching: true, ...config });
}

/** Steps until no work is left; records the running count seen by each step. */
async function drain(core: EngineCore, onStep: (step: number) => void = () => {}): Promise<number[]> {
  const running: number[] = [];
  for (let step = 0; core.scheduler.hasWork; step++) {
    onStep(step);
    await core.step();
    running.push(core.scheduler.stats().running);
  }
  return running;
}

/** The tokens a request's choice gets when it runs alone. */
async function alone(request: RequestSpec): Promise<number[]> {
  const core = engineCore();
  const [solo] = core.scheduler.add(request);
  await drain(core);
  return solo.generated;
}

/** Why `add` refused a request. */
function refusal(add: () => unknown): string | undefined {
  try {
    add();
  } catch (error) {
    return (error as RequestError).reason;
  }
}

describe("scheduling", () => {
  it("a long prompt is prefilled in budget-sized chunks while running sequences still get a token every step", async () => {
    const engine = new FakeEngine({ contextLength });
    const core = engineCore({ stepTokens: 8 }, engine);
    const [running] = core.scheduler.add(spec(short, 30));
    await core.step();
    expect(running.generated).toHaveLength(1);
    const [newcomer] = core.scheduler.add(spec(long, 4));
    const prefillSteps = Math.ceil(long.length / 7);
    for (let step = 1; step <= prefillSteps; step++) {
      await core.step();
      // One decode token, then at most 7 prompt tokens: the budget of 8 is never exceeded.
      expect(running.generated).toHaveLength(1 + step);
      expect(newcomer.computed).toBe(Math.min(7 * step, long.length));
    }
    expect(newcomer.generated).toHaveLength(1);
    await drain(core);
    expect(newcomer.generated).toEqual(fakeGreedy(long, 4, engine.shape));
    for (const chunks of engine.steps)
      expect(chunks.reduce((sum, { tokens }) => sum + tokens.length, 0)).toBeLessThanOrEqual(8);
  });

  it("admits no more sequences than KV slots; the rest wait and all finish", async () => {
    const core = engineCore({ maxRunning: 2 });
    const sequences = Array.from({ length: 5 }, (_, i) => core.scheduler.add(spec(short, 3 + i))[0]);
    const running = await drain(core);
    expect(Math.max(...running)).toBe(2);
    expect(sequences.map((sequence) => sequence.generated.length)).toEqual([3, 4, 5, 6, 7]);
    expect(core.scheduler.stats()).toMatchObject({ running: 0, waiting: 0, free_kv_slots: 2 });
  });

  it("a request's n choices share one prefill and its partial last block; each samples as it would alone with its own seed", async () => {
    const seeds = [sampled(1), sampled(2), sampled(3)];
    const core = engineCore({ stepTokens: 5 });
    const choices = core.scheduler.add(spec(medium, 6, ...seeds));
    await drain(core);
    expect(core.scheduler.stats().prefilled_tokens).toBe(medium.length);
    expect(new Set(choices.map((choice) => choice.generated.join())).size).toBe(3);
    for (const [i, sampling] of seeds.entries())
      expect(choices[i].generated).toEqual(await alone(spec(medium, 6, sampling)));
  });

  it("a request waits until all its choices have slots (FIFO within a tenant); more choices than slots are refused", async () => {
    const core = engineCore();
    for (let i = 0; i < slots - 1; i++) core.scheduler.add(spec(short, 8));
    const pair = core.scheduler.add(spec(short, 2, sampled(1), sampled(2)));
    const [later] = core.scheduler.add(spec([1], 2));
    await core.step();
    expect(core.scheduler.stats()).toMatchObject({ running: slots - 1, waiting: 3, free_kv_slots: 1 });
    await drain(core);
    expect([...pair, later].map((sequence) => sequence.generated.length)).toEqual([2, 2, 2]);
    const tooMany = spec([1], 1, ...Array.from({ length: slots + 1 }, () => greedy));
    expect(refusal(() => core.scheduler.add(tooMany))).toBe("too_many_choices");
  });

  it("a tenant's backlog does not delay another tenant's first token: it takes a seat from the busiest tenant at once", async () => {
    const core = engineCore({ stepTokens: 32 });
    const flood = Array.from({ length: 12 }, () => core.scheduler.add({ ...spec(short, 20), tenant: "a" })[0]);
    await core.step();
    expect(core.scheduler.stats()).toMatchObject({ running: slots, waiting: 8 });
    const [newcomer] = core.scheduler.add({ ...spec(short, 2), tenant: "b" });
    await core.step();
    expect(newcomer.generated).toHaveLength(1);
    expect(core.scheduler.stats().preemptions).toBe(1);
    // b holds one seat, a the rest; a's preempted sequence waits ahead of a's own backlog.
    expect(core.scheduler.stats().running).toBe(slots);
    await drain(core);
    expect(flood.every((sequence) => sequence.generated.length === 20)).toBe(true);
  });

  it("seats converge to equal shares between tenants and never swing back", async () => {
    const core = engineCore({ stepTokens: 32 });
    for (let i = 0; i < 6; i++) core.scheduler.add({ ...spec(short, 30), tenant: "a" });
    await core.step();
    for (let i = 0; i < 6; i++) core.scheduler.add({ ...spec(short, 30), tenant: "b" });
    const preemptionsAt: number[] = [];
    for (let step = 0; step < 6; step++) {
      await core.step();
      preemptionsAt.push(core.scheduler.stats().preemptions);
    }
    expect(preemptionsAt.at(-1)).toBe(slots / 2);
    expect(preemptionsAt[1]).toBe(preemptionsAt.at(-1)); // settled: no more preemptions after the first steps
    await drain(core);
  });

  it("the prefill budget is shared between tenants: two long prompts advance together", async () => {
    const engine = new FakeEngine({ contextLength });
    const core = engineCore({ stepTokens: 8 }, engine);
    const [a] = core.scheduler.add({ ...spec(long, 1), tenant: "a" });
    const [a2] = core.scheduler.add({ ...spec(long, 1), tenant: "a" });
    const [b] = core.scheduler.add({ ...spec(long, 1), tenant: "b" });
    await core.step();
    expect([a.computed + a2.computed, b.computed]).toEqual([4, 4]);
    await core.step();
    expect([a.computed + a2.computed, b.computed]).toEqual([8, 8]);
    await drain(core);
    expect(a.generated).toEqual(fakeGreedy(long, 1, engine.shape));
    expect(b.generated).toEqual(fakeGreedy(long, 1, engine.shape));
  });

  it("a sequence whose grammar mask is late waits alone: the others keep stepping, and its tokens are what they would be", async () => {
    /** Allows every token, but each mask comes only when the test opens the gate. */
    class GatedConstraint implements TokenConstraint {
      private open = false;
      private waiting: (() => void)[] = [];
      allowed(): Promise<Int32Array> {
        const mask = new Int32Array(Math.ceil(new FakeEngine().shape.vocabSize / 32)).fill(-1);
        if (this.open) return Promise.resolve(mask);
        return new Promise((resolve) => this.waiting.push(() => resolve(mask)));
      }
      accept(): void {}
      release(): void {}
      openGate(): void {
        this.open = true;
        for (const resolve of this.waiting.splice(0)) resolve();
      }
    }
    const gate = new GatedConstraint();
    const core = engineCore();
    const [gated] = core.scheduler.add(spec(short, 4, { ...sampled(5), constraint: gate }));
    const [free] = core.scheduler.add(spec(medium, 4, sampled(6)));
    while (free.generated.length < 3) await core.step();
    expect(gated.deferred).toBeDefined(); // prefilled, its logits waiting for the mask
    expect(gated.generated).toHaveLength(0);
    gate.openGate();
    await drain(core);
    expect(gated.generated).toEqual(await alone(spec(short, 4, sampled(5))));
    expect(free.generated).toHaveLength(4);
  });

  it("a sequence that ends on its late mask's token is not fed again: the step runs only the others", async () => {
    const engine = new FakeEngine({ contextLength });
    const core = engineCore({}, engine);
    const everyToken = new Int32Array(Math.ceil(engine.shape.vocabSize / 32)).fill(-1);
    let opened = false;
    /** Its masks never come until the gate opens (one that did not come stays pending). */
    const late: TokenConstraint = {
      allowed: () => (opened ? Promise.resolve(everyToken) : new Promise(() => {})),
      accept: () => {},
      release: () => {},
    };
    const [gated] = core.scheduler.add(spec(short, 1, { ...sampled(5), constraint: late }));
    const [free] = core.scheduler.add(spec(medium, 8, sampled(6)));
    const gatedBlocks = gated.blocks.blocks;
    while (free.generated.length < 2) await core.step();
    expect(gated.deferred).toBeDefined();
    opened = true;
    await drain(core);
    expect(gated.finish).toBe("length");
    expect(free.generated).toHaveLength(8);
    // Its prompt ran once; the token it ended on was never fed.
    const fed = engine.steps.flat().filter((chunk) => chunk.blocks === gatedBlocks);
    expect(fed.map((chunk) => chunk.tokens)).toEqual([short]);
  });

  it("if the prefilling choice is cancelled, a waiting sibling prefills itself", async () => {
    const core = engineCore({ stepTokens: 5 });
    const [first, second] = core.scheduler.add(spec(long, 4, sampled(1), sampled(2)));
    await core.step();
    core.scheduler.abort(first, "stop");
    await drain(core);
    expect(second.generated).toEqual(await alone(spec(long, 4, sampled(2))));
    expect(core.scheduler.stats().prefilled_tokens).toBe(5 + long.length);
  });

  it("the queue holds at most maxWaiting sequences beyond the free slots", async () => {
    const core = engineCore({ maxWaiting: 2 });
    for (let i = 0; i < slots + 2; i++) core.scheduler.add(spec([1, 5], 3));
    expect(refusal(() => core.scheduler.add(spec([1], 1)))).toBe("queue_full");
    await core.step();
    expect(core.scheduler.stats()).toMatchObject({ running: slots, waiting: 2, free_kv_slots: 0 });
    expect(refusal(() => core.scheduler.add(spec([1], 1)))).toBe("queue_full");
    await drain(core);
  });

  it("abort frees the sequence's seat and KV blocks by the end of the step", async () => {
    const core = engineCore({ prefixCaching: false });
    const [sequence] = core.scheduler.add(spec(long, undefined));
    await core.step();
    expect(core.scheduler.stats().free_kv_slots).toBe(slots - 1);
    expect(core.scheduler.stats().free_kv_cache_blocks).toBeLessThan(core.scheduler.stats().kv_cache_blocks);
    core.scheduler.abort(sequence, "stop");
    await core.step();
    expect(core.scheduler.stats()).toMatchObject({
      running: 0,
      free_kv_slots: slots,
      free_kv_cache_blocks: core.scheduler.stats().kv_cache_blocks,
    });
  });

  it("stops at the context length with model_length", async () => {
    const core = engineCore();
    const [sequence] = core.scheduler.add(spec(long, 1000));
    await drain(core);
    expect(sequence.finish).toBe("model_length");
    expect(sequence.total).toBe(contextLength);
  });

  it("a sequence the engine rejects fails alone; the others in its step go on", async () => {
    const core = engineCore();
    const [good, bad, other] = [short, [1, 999_999, 5], medium].map((prompt) => core.scheduler.add(spec(prompt, 4))[0]);
    await drain(core);
    expect(bad.finish).toBe("error");
    expect(bad.error).toBeTruthy();
    expect(good.generated).toHaveLength(4);
    expect(other.generated).toHaveLength(4);
    expect(core.scheduler.stats().free_kv_slots).toBe(slots);
  });

  it("requests that do not fit the KV pool together are preempted and recomputed; all finish as they would alone", async () => {
    // 32 blocks of 4 = 128 positions; four sequences of 20 + 30 tokens need 4 × 13 blocks.
    const prompts = Array.from({ length: 4 }, (_, i) => prompt(20, i * 13));
    const core = engineCore({ prefixCaching: false }, new FakeEngine({ contextLength, kvBlocks: 32 }));
    const sequences = prompts.map((prompt) => core.scheduler.add(spec(prompt, 30))[0]);
    const running = await drain(core);
    expect(sequences.map((sequence) => sequence.finish)).toEqual(["length", "length", "length", "length"]);
    expect(core.scheduler.stats().preemptions).toBeGreaterThan(0);
    expect(Math.max(...running)).toBeLessThanOrEqual(4);
    for (const [i, prompt] of prompts.entries()) expect(sequences[i].generated).toEqual(await alone(spec(prompt, 30)));
  });
});

describe("the scheduler alone: plans in, runner outputs back", () => {
  const shape = new FakeEngine().shape;
  const scheduler = (config: Partial<SchedulerConfig> = {}) =>
    new Scheduler(shape, { maxRunning: slots, maxWaiting: 8, stepTokens: 64, prefixCaching: false, ...config });

  it("plans a request's prefill with its forks and their partial-block copy, and finishes on EOS", () => {
    const s = scheduler();
    const [first, second] = s.add(spec(prompt(6), 4, greedy, { ...greedy, temperature: 1, seed: 1 }));
    const plan = s.schedule();
    expect(plan.chunks).toHaveLength(1);
    const [chunk] = plan.chunks;
    expect(chunk).toMatchObject({ sequence: first, tokens: prompt(6), samples: true, forks: [second] });
    // Logits shared with a fork: the engine must not draw the token itself.
    expect(chunk.draw).toBeUndefined();
    expect(plan.copies).toEqual([{ from: first.blocks.blocks[1], to: second.blocks.blocks[1] }]);
    expect(second.blocks.blocks[0]).toBe(first.blocks.blocks[0]);

    const sampledTokens = new Map([
      [first, { token: shape.eosTokenId, logprobs: undefined }],
      [second, { token: 7, logprobs: undefined }],
    ]);
    const outputs = s.update(plan, { chunks: ["ran"], sampled: sampledTokens });
    expect(outputs.map(({ token, finish }) => [token, finish])).toEqual([
      [shape.eosTokenId, "stop"],
      [7, undefined],
    ]);
    s.freeFinished();
    const next = s.schedule();
    expect(next.chunks.map(({ sequence, tokens }) => [sequence, tokens])).toEqual([[second, [7]]]);
    // Alone now, and nothing but the token wanted: the engine draws it.
    expect(next.chunks[0].draw).toEqual({ temperature: 1, uniform: expect.any(Number) });
  });

  it("a chunk the engine failed fails its sequence, and its forks prefill themselves", () => {
    const s = scheduler();
    const [first, second] = s.add(spec(prompt(6), 4, greedy, greedy));
    const plan = s.schedule();
    const outputs = s.update(plan, { chunks: [{ error: "engine broke" }], sampled: new Map() });
    expect(outputs).toEqual([{ sequence: first, token: undefined, finish: "error" }]);
    expect(first.error).toBe("engine broke");
    s.freeFinished();
    expect(s.stats().free_kv_cache_blocks).toBe(s.stats().kv_cache_blocks);
    const next = s.schedule();
    expect(next.chunks.map(({ sequence, tokens }) => [sequence, tokens])).toEqual([[second, prompt(6)]]);
  });
});
