import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../backend/engine/engine.ts";
import { loadEngine } from "../../backend/engine/load-engine.ts";
import { EngineCore } from "../../backend/inference/engine-core.ts";
import type { SchedulerConfig } from "../../backend/scheduler/scheduler.ts";
import type { Sequence } from "../../backend/scheduler/sequence.ts";
import { useTempCache } from "./support/engine-helpers.ts";
import { sampled, spec } from "./support/request-specs.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

// The step loop (schedule → execute → update) on the real engine and the tiny fixture: what only
// real numerics show. The scheduling policies are tested against a fake engine in scheduler.test.ts.
const longest = referenceCases[3];

useTempCache();
let engine: Engine;
const slots = 4;

beforeAll(async () => {
  engine = await loadEngine({ model: fixture, kvCacheSequences: slots, contextLength: 64, threads: 1 });
});
afterAll(async () => {
  await engine.close();
});

function engineCore(config: Partial<SchedulerConfig> = {}): EngineCore {
  return new EngineCore(engine, { maxRunning: slots, maxWaiting: 64, stepTokens: 16, prefixCaching: true, ...config });
}

async function drain(core: EngineCore): Promise<void> {
  while (core.scheduler.hasWork) await core.step();
}

/** Steps until no work is left; returns the log-probabilities of the tokens `watched()` was given. */
async function drainLogprobs(
  core: EngineCore,
  watched: Sequence | (() => Sequence | undefined),
  onStep: (step: number) => void = () => {},
): Promise<number[]> {
  const logprobs: number[] = [];
  for (let step = 0; core.scheduler.hasWork; step++) {
    onStep(step);
    const target = typeof watched === "function" ? watched() : watched;
    for (const output of await core.step())
      if (output.sequence === target && output.logprobs) logprobs.push(output.logprobs.logprob);
  }
  return logprobs;
}

describe("the step loop on the real engine", () => {
  it("chunked prefill (5 tokens a step) then decode reproduces transformers' greedy tokens", async () => {
    const core = engineCore({ stepTokens: 5 });
    const [sequence] = core.scheduler.add(spec(longest.input_ids, 20));
    await drain(core);
    expect(sequence.generated).toEqual(longest.greedy_new_ids);
    expect(sequence.finish).toBe("length");
  });

  // Batch composition changes the logits only by float rounding: the CPU's matrix kernels sum in
  // a different order for a different number of rows (AVX2 and AVX-512 differ here). So greedy
  // text is the same whatever else runs, and the logits agree within rounding; a sampled draw
  // keeps its uniform number (the seed's) but may pick a neighbour when it lands within rounding
  // of a boundary between two tokens, as on a near-uniform random model it does.
  it("a sequence's greedy tokens do not depend on who joins or leaves the batch; its logprobs agree within rounding", async () => {
    const alone = engineCore();
    const [solo] = alone.scheduler.add({ ...spec(longest.input_ids, 12), topLogprobs: 0 });
    const soloLogprobs = await drainLogprobs(alone, solo);

    const busy = engineCore();
    const [first] = busy.scheduler.add(spec(referenceCases[2].input_ids, 3, sampled(1)));
    let target: Sequence | undefined;
    // The target joins at step 2, while others prefill and decode; more join and leave after it.
    const targetLogprobs = await drainLogprobs(
      busy,
      () => target,
      (step) => {
        if (step === 2) [target] = busy.scheduler.add({ ...spec(longest.input_ids, 12), topLogprobs: 0 });
        if (step === 4) {
          busy.scheduler.add(spec(referenceCases[1].input_ids, 6, sampled(2)));
          busy.scheduler.add(spec(referenceCases[0].input_ids, 2, sampled(3)));
        }
      },
    );
    expect(first.generated).toHaveLength(3);
    expect(target!.generated).toEqual(solo.generated);
    expect(targetLogprobs).toHaveLength(12);
    for (const [i, logprob] of targetLogprobs.entries()) expect(logprob).toBeCloseTo(soloLogprobs[i], 4);
  });

  it("a long prompt prefilled in chunks beside a decoding sequence still gives transformers' greedy tokens", async () => {
    const core = engineCore({ stepTokens: 8 });
    core.scheduler.add(spec(referenceCases[1].input_ids, 30));
    await core.step();
    const [newcomer] = core.scheduler.add(spec(longest.input_ids, 4));
    await drain(core);
    expect(newcomer.generated).toEqual(longest.greedy_new_ids.slice(0, 4));
  });

  it("a request's n choices share one prefill; each samples as it would alone with its own seed", async () => {
    const seeds = [sampled(1), sampled(2), sampled(3)];
    const core = engineCore({ stepTokens: 5 });
    const choices = core.scheduler.add(spec(longest.input_ids, 6, ...seeds));
    await drain(core);
    expect(core.scheduler.stats().prefilled_tokens).toBe(longest.input_ids.length);
    expect(new Set(choices.map((choice) => choice.generated.join())).size).toBe(3);
    for (const [i, sampling] of seeds.entries()) {
      const alone = engineCore();
      const [solo] = alone.scheduler.add(spec(longest.input_ids, 6, sampling));
      await drain(alone);
      expect(choices[i].generated).toEqual(solo.generated);
    }
  });
});
