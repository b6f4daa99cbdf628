// The engine on the WebGPU EP (SwiftShader in CI), the weights and the KV pool on the device.
// SwiftShader takes seconds per step, so each case runs few steps; on a GPU host the node suite's
// engine tests run whole here too (MOXIE_TEST_EXECUTION_PROVIDER=webgpu, README: Running on a GPU).
// Tolerances are the CPU EP's: WebGPU's float32 kernels sum in other orders, which moves logits by
// about 1e-6 (measured up to 5e-7 on these inputs); a wrong mask, cache read or write moves them by 1e-1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { EngineCore } from "../../backend/inference/engine-core.ts";
import { logSumExp } from "../../backend/sampler/logits.ts";
import { argmax, type SamplingParams } from "../../backend/sampler/sampler.ts";
import type { RequestSpec } from "../../backend/scheduler/sequence.ts";
import { loadTestEngine, maxDifference, useTempCache } from "../node/support/engine-helpers.ts";
import { fixture, referenceCases, referenceFloats } from "../node/support/fixture.ts";

useTempCache();
const vocab = 32000;
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadTestEngine({ model: fixture, threads: 2, contextLength: 64, blockSize: 4, kvCacheSequences: 3 });
});
afterAll(() => engine.close());

it("runs on the WebGPU EP with the KV pool on the device", () => {
  expect(engine.shape.kvBlocks).toBe(48);
  expect(process.env.MOXIE_TEST_EXECUTION_PROVIDER).toBe("webgpu");
});

describe.each(referenceCases.map((c, i) => [i, c] as const))("fixture case %i", (_, reference) => {
  it("matches transformers at every position: argmax identical, logsumexp and last logits within 1e-3", async () => {
    const [evaluation] = await engine.evaluate([reference.input_ids]);
    const rows = reference.input_ids.map((_, t) => evaluation.logits.subarray(t * vocab, (t + 1) * vocab));
    expect(rows.map(argmax)).toEqual(reference.argmax);
    expect(maxDifference(rows.map(logSumExp), reference.logsumexp)).toBeLessThan(1e-3);
    expect(maxDifference(rows.at(-1)!, referenceFloats(reference.last_logits_f32_b64))).toBeLessThan(1e-3);
  });
});

it("decodes transformers' greedy tokens through the device cache, in scattered blocks", async () => {
  const reference = referenceCases[3];
  const blocks = reservedBlocks(engine.shape, 0).reverse();
  const greedy = { temperature: 0, uniform: 0 };
  let [token] = (await engine.forward([{ blocks, past: 0, tokens: reference.input_ids, draw: greedy }])) as number[];
  const generated = [token];
  for (let step = 0; step < 5; step++) {
    const past = reference.input_ids.length + step;
    [token] = (await engine.forward([{ blocks, past, tokens: [token], draw: greedy }])) as number[];
    generated.push(token);
  }
  expect(generated).toEqual(reference.greedy_new_ids.slice(0, 6));
});

it("gives each row of a step mixing a prefill and a decode its solo logits", async () => {
  const [prompt, other] = [referenceCases[1].input_ids, referenceCases[2].input_ids];
  const [a, b] = [reservedBlocks(engine.shape, 1), reservedBlocks(engine.shape, 2)];
  await engine.forward([{ blocks: a, past: 0, tokens: prompt }]);
  const [decodeSolo] = await engine.forward([{ blocks: a, past: prompt.length, tokens: [9] }]);
  const [prefillSolo] = await engine.forward([{ blocks: b, past: 0, tokens: other }]);
  const mixed = await engine.forward([
    { blocks: b, past: 0, tokens: other },
    { blocks: a, past: prompt.length, tokens: [9] },
  ]);
  expect(maxDifference(mixed[0], prefillSolo)).toBeLessThan(1e-4);
  expect(maxDifference(mixed[1], decodeSolo)).toBeLessThan(1e-4);
});

describe("through the scheduler", () => {
  const greedy: SamplingParams = { temperature: 0, topP: 1, seed: 0, presencePenalty: 0, frequencyPenalty: 0 };
  const spec = (prompt: number[], maxTokens: number, choices = [greedy]): RequestSpec => ({
    prompt,
    maxTokens,
    choices,
  });
  const core = (prefixCaching: boolean) =>
    new EngineCore(engine, { maxRunning: 4, maxWaiting: 16, stepTokens: 64, prefixCaching });
  const drain = async (s: EngineCore) => {
    while (s.scheduler.hasWork) await s.step();
  };

  it("reuses a cached prefix (and copies a partial block on the device) with a cold run's tokens", async () => {
    const prompt = referenceCases[3].input_ids.slice(0, 14);
    const warm = core(true);
    const [first] = warm.scheduler.add(spec(prompt, 2));
    await drain(warm);
    // Two choices share the prompt's full blocks and copy its partial last block.
    const [second, fork] = warm.scheduler.add(spec(prompt, 2, [greedy, greedy]));
    await drain(warm);
    expect(second.cachedTokens).toBe(12);
    const cold = core(false);
    const [alone] = cold.scheduler.add(spec(prompt, 2));
    await drain(cold);
    expect([first.generated, second.generated, fork.generated]).toEqual([
      alone.generated,
      alone.generated,
      alone.generated,
    ]);
  });

  it("preempts a sequence that does not fit the pool, recomputes it, and ends each as it would alone", async () => {
    // 8 blocks of 4: two sequences of 4 + 14 tokens need 2 × 5 blocks once they have grown.
    const small = await loadTestEngine({
      model: fixture,
      threads: 2,
      contextLength: 32,
      blockSize: 4,
      kvCacheSequences: 1,
    });
    try {
      const run = async (prompts: number[][]) => {
        const s = new EngineCore(small, { maxRunning: 2, maxWaiting: 4, stepTokens: 64, prefixCaching: false });
        const sequences = prompts.map((prompt) => s.scheduler.add(spec(prompt, 14))[0]);
        await drain(s);
        return {
          tokens: sequences.map((sequence) => sequence.generated),
          preemptions: s.scheduler.stats().preemptions,
        };
      };
      const prompts = [
        [1, 415, 2936, 9060],
        [1, 285, 1142, 28723],
      ];
      const together = await run(prompts);
      expect(together.preemptions).toBeGreaterThan(0);
      for (const [i, prompt] of prompts.entries()) expect(together.tokens[i]).toEqual((await run([prompt])).tokens[0]);
    } finally {
      await small.close();
    }
  });
});
