import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import type { SamplingParams } from "../../backend/sampler/sampler.ts";
import type { TokenConstraint } from "../../backend/sampler/token-constraint.ts";
import {
  QueueFullError,
  Scheduler,
  TooManyChoicesError,
  type SchedulerConfig,
} from "../../backend/scheduler/scheduler.ts";
import type { ChoiceSpec, RequestSpec, Sequence } from "../../backend/scheduler/sequence.ts";
import { useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

// The scheduler's policies, driven against the real engine on the tiny fixture.
const longest = referenceCases[3];

const greedy: SamplingParams = { temperature: 0, topP: 1, seed: 0, presencePenalty: 0, frequencyPenalty: 0 };
const sampled = (seed: number): SamplingParams => ({ ...greedy, temperature: 1, topP: 0.9, seed });
const spec = (prompt: number[], maxTokens: number | undefined, ...choices: ChoiceSpec[]): RequestSpec => ({
  prompt,
  maxTokens,
  choices: choices.length > 0 ? choices : [greedy],
});

useTempCache();
let engine: Engine;
const slots = 4;
const contextLength = 64;

beforeAll(async () => {
  engine = await loadEngine({ model: fixture, kvCacheSequences: slots, contextLength, threads: 1 });
});
afterAll(async () => {
  await engine.close();
});

function scheduler(config: Partial<SchedulerConfig> = {}): Scheduler {
  return new Scheduler(engine, { maxRunning: slots, maxWaiting: 64, stepTokens: 16, prefixCaching: true, ...config });
}

/** Steps until no work is left; records the running count seen by each step. */
async function drain(scheduler: Scheduler, onStep: (step: number) => void = () => {}): Promise<number[]> {
  const running: number[] = [];
  for (let step = 0; scheduler.hasWork; step++) {
    onStep(step);
    await scheduler.step();
    running.push(scheduler.stats().running);
  }
  return running;
}

/** Steps until no work is left; returns the log-probabilities of the tokens `watched()` was given. */
async function drainLogprobs(
  scheduler: Scheduler,
  watched: Sequence | (() => Sequence | undefined),
  onStep: (step: number) => void = () => {},
): Promise<number[]> {
  const logprobs: number[] = [];
  for (let step = 0; scheduler.hasWork; step++) {
    onStep(step);
    const target = typeof watched === "function" ? watched() : watched;
    for (const output of await scheduler.step())
      if (output.sequence === target && output.logprobs) logprobs.push(output.logprobs.logprob);
  }
  return logprobs;
}

describe("scheduler on the real engine", () => {
  it("chunked prefill (5 tokens a step) then decode reproduces transformers' greedy tokens", async () => {
    const s = scheduler({ stepTokens: 5 });
    const [sequence] = s.add(spec(longest.input_ids, 20));
    await drain(s);
    expect(sequence.generated).toEqual(longest.greedy_new_ids);
    expect(sequence.finish).toBe("length");
  });

  // Batch composition changes the logits only by float rounding: the CPU's matrix kernels sum in
  // a different order for a different number of rows (AVX2 and AVX-512 differ here). So greedy
  // text is the same whatever else runs, and the logits agree within rounding; a sampled draw
  // keeps its uniform number (the seed's) but may pick a neighbour when it lands within rounding
  // of a boundary between two tokens, as on a near-uniform random model it does.
  it("a sequence's greedy tokens do not depend on who joins or leaves the batch; its logprobs agree within rounding", async () => {
    const alone = scheduler();
    const [solo] = alone.add({ ...spec(longest.input_ids, 12), topLogprobs: 0 });
    const soloLogprobs = await drainLogprobs(alone, solo);

    const busy = scheduler();
    const [first] = busy.add(spec(referenceCases[2].input_ids, 3, sampled(1)));
    let target: Sequence | undefined;
    // The target joins at step 2, while others prefill and decode; more join and leave after it.
    const targetLogprobs = await drainLogprobs(
      busy,
      () => target,
      (step) => {
        if (step === 2) [target] = busy.add({ ...spec(longest.input_ids, 12), topLogprobs: 0 });
        if (step === 4) {
          busy.add(spec(referenceCases[1].input_ids, 6, sampled(2)));
          busy.add(spec(referenceCases[0].input_ids, 2, sampled(3)));
        }
      },
    );
    expect(first.generated).toHaveLength(3);
    expect(target!.generated).toEqual(solo.generated);
    expect(targetLogprobs).toHaveLength(12);
    for (const [i, logprob] of targetLogprobs.entries()) expect(logprob).toBeCloseTo(soloLogprobs[i], 4);
  });

  it("a long prompt is prefilled in budget-sized chunks while running sequences still get a token every step", async () => {
    const s = scheduler({ stepTokens: 8 });
    const [running] = s.add(spec(referenceCases[1].input_ids, 30));
    await s.step();
    expect(running.generated).toHaveLength(1);
    const [newcomer] = s.add(spec(longest.input_ids, 4));
    const prefillSteps = Math.ceil(longest.input_ids.length / 7);
    for (let step = 1; step <= prefillSteps; step++) {
      await s.step();
      // One decode token, then at most 7 prompt tokens: the budget of 8 is never exceeded.
      expect(running.generated).toHaveLength(1 + step);
      expect(newcomer.computed).toBe(Math.min(7 * step, longest.input_ids.length));
    }
    expect(newcomer.generated).toHaveLength(1);
    await drain(s);
    expect(newcomer.generated).toEqual(longest.greedy_new_ids.slice(0, 4));
  });

  it("admits no more sequences than KV slots; the rest wait and all finish", async () => {
    const s = scheduler({ maxRunning: 2 });
    const sequences = Array.from({ length: 5 }, (_, i) => s.add(spec(referenceCases[1].input_ids, 3 + i))[0]);
    const running = await drain(s);
    expect(Math.max(...running)).toBe(2);
    expect(sequences.map((sequence) => sequence.generated.length)).toEqual([3, 4, 5, 6, 7]);
    expect(s.stats()).toMatchObject({ running: 0, waiting: 0, freeSlots: 2 });
  });

  it("a request's n choices share one prefill; each samples as it would alone with its own seed", async () => {
    const seeds = [sampled(1), sampled(2), sampled(3)];
    const s = scheduler({ stepTokens: 5 });
    const choices = s.add(spec(longest.input_ids, 6, ...seeds));
    await drain(s);
    expect(s.stats().prefilledTokens).toBe(longest.input_ids.length);
    expect(new Set(choices.map((choice) => choice.generated.join())).size).toBe(3);
    for (const [i, sampling] of seeds.entries()) {
      const alone = scheduler();
      const [solo] = alone.add(spec(longest.input_ids, 6, sampling));
      await drain(alone);
      expect(choices[i].generated).toEqual(solo.generated);
    }
  });

  it("a request waits until all its choices have slots (FIFO within a tenant); more choices than slots are refused", async () => {
    const s = scheduler();
    for (let i = 0; i < slots - 1; i++) s.add(spec(referenceCases[1].input_ids, 8));
    const pair = s.add(spec(referenceCases[1].input_ids, 2, sampled(1), sampled(2)));
    const [later] = s.add(spec(referenceCases[0].input_ids, 2));
    await s.step();
    expect(s.stats()).toMatchObject({ running: slots - 1, waiting: 3, freeSlots: 1 });
    await drain(s);
    expect([...pair, later].map((sequence) => sequence.generated.length)).toEqual([2, 2, 2]);
    expect(() => s.add(spec([1], 1, ...Array.from({ length: slots + 1 }, () => greedy)))).toThrow(TooManyChoicesError);
  });

  it("a tenant's backlog does not delay another tenant's first token: it takes a seat from the busiest tenant at once", async () => {
    const s = scheduler({ stepTokens: 32 });
    const flood = Array.from({ length: 12 }, () => s.add({ ...spec(referenceCases[1].input_ids, 20), tenant: "a" })[0]);
    await s.step();
    expect(s.stats()).toMatchObject({ running: slots, waiting: 8 });
    const [newcomer] = s.add({ ...spec(referenceCases[1].input_ids, 2), tenant: "b" });
    await s.step();
    expect(newcomer.generated).toHaveLength(1);
    expect(s.stats().preemptions).toBe(1);
    // b holds one seat, a the rest; a's preempted sequence waits ahead of a's own backlog.
    expect(s.stats().running).toBe(slots);
    await drain(s);
    expect(flood.every((sequence) => sequence.generated.length === 20)).toBe(true);
  });

  it("seats converge to equal shares between tenants and never swing back", async () => {
    const s = scheduler({ stepTokens: 32 });
    for (let i = 0; i < 6; i++) s.add({ ...spec(referenceCases[1].input_ids, 30), tenant: "a" });
    await s.step();
    for (let i = 0; i < 6; i++) s.add({ ...spec(referenceCases[1].input_ids, 30), tenant: "b" });
    const preemptionsAt: number[] = [];
    for (let step = 0; step < 6; step++) {
      await s.step();
      preemptionsAt.push(s.stats().preemptions);
    }
    expect(preemptionsAt.at(-1)).toBe(slots / 2);
    expect(preemptionsAt[1]).toBe(preemptionsAt.at(-1)); // settled: no more preemptions after the first steps
    await drain(s);
  });

  it("the prefill budget is shared between tenants: two long prompts advance together", async () => {
    const s = scheduler({ stepTokens: 8 });
    const [a] = s.add({ ...spec(longest.input_ids, 1), tenant: "a" });
    const [a2] = s.add({ ...spec(longest.input_ids, 1), tenant: "a" });
    const [b] = s.add({ ...spec(longest.input_ids, 1), tenant: "b" });
    await s.step();
    expect([a.computed + a2.computed, b.computed]).toEqual([4, 4]);
    await s.step();
    expect([a.computed + a2.computed, b.computed]).toEqual([8, 8]);
    await drain(s);
    expect(a.generated).toEqual(longest.greedy_new_ids.slice(0, 1));
    expect(b.generated).toEqual(longest.greedy_new_ids.slice(0, 1));
  });

  it("a sequence whose grammar mask is late waits alone: the others keep stepping, and its tokens are what they would be", async () => {
    /** Allows every token, but each mask comes only when the test opens the gate. */
    class GatedConstraint implements TokenConstraint {
      private open = false;
      private waiting: (() => void)[] = [];
      allowed(): Promise<Int32Array> {
        const mask = new Int32Array(Math.ceil(engine.shape.vocabSize / 32)).fill(-1);
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
    const s = scheduler();
    const [gated] = s.add(spec(referenceCases[1].input_ids, 4, { ...sampled(5), constraint: gate }));
    const [free] = s.add(spec(referenceCases[2].input_ids, 4, sampled(6)));
    while (free.generated.length < 3) await s.step();
    expect(gated.deferred).toBeDefined(); // prefilled, its logits waiting for the mask
    expect(gated.generated).toHaveLength(0);
    gate.openGate();
    await drain(s);
    const alone = scheduler();
    const [solo] = alone.add(spec(referenceCases[1].input_ids, 4, sampled(5)));
    await drain(alone);
    expect(gated.generated).toEqual(solo.generated);
    expect(free.generated).toHaveLength(4);
  });

  it("if the prefilling choice is cancelled, a waiting sibling prefills itself", async () => {
    const s = scheduler({ stepTokens: 5 });
    const [first, second] = s.add(spec(longest.input_ids, 4, sampled(1), sampled(2)));
    await s.step();
    s.abort(first, "stop");
    await drain(s);
    const alone = scheduler();
    const [solo] = alone.add(spec(longest.input_ids, 4, sampled(2)));
    await drain(alone);
    expect(second.generated).toEqual(solo.generated);
    expect(s.stats().prefilledTokens).toBe(5 + longest.input_ids.length);
  });

  it("the queue holds at most maxWaiting sequences beyond the free slots", async () => {
    const s = scheduler({ maxWaiting: 2 });
    for (let i = 0; i < slots + 2; i++) s.add(spec([1, 5], 3));
    expect(() => s.add(spec([1], 1))).toThrow(QueueFullError);
    await s.step();
    expect(s.stats()).toMatchObject({ running: slots, waiting: 2, freeSlots: 0 });
    expect(() => s.add(spec([1], 1))).toThrow(QueueFullError);
    await drain(s);
  });

  it("abort frees the sequence's seat and KV blocks by the end of the step", async () => {
    const s = scheduler({ prefixCaching: false });
    const [sequence] = s.add(spec(longest.input_ids, undefined));
    await s.step();
    expect(s.stats().freeSlots).toBe(slots - 1);
    expect(s.stats().freeKvBlocks).toBeLessThan(s.stats().kvBlocks);
    s.abort(sequence, "stop");
    await s.step();
    expect(s.stats()).toMatchObject({ running: 0, freeSlots: slots, freeKvBlocks: s.stats().kvBlocks });
  });

  it("stops at the context length with model_length", async () => {
    const s = scheduler();
    const [sequence] = s.add(spec(longest.input_ids, 1000));
    await drain(s);
    expect(sequence.finish).toBe("model_length");
    expect(sequence.total).toBe(contextLength);
  });

  it("a sequence the engine rejects fails alone; the others in its step go on", async () => {
    const s = scheduler();
    const [good, bad, other] = [referenceCases[1].input_ids, [1, 999_999, 5], referenceCases[2].input_ids].map(
      (prompt) => s.add(spec(prompt, 4))[0],
    );
    await drain(s);
    expect(bad.finish).toBe("error");
    expect(bad.error).toBeTruthy();
    expect(good.generated).toHaveLength(4);
    expect(other.generated).toHaveLength(4);
    expect(s.stats().freeSlots).toBe(slots);
  });
});
