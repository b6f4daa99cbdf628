import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reservedBlocks, type Engine } from "../../backend/engine/engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { argmax, type SamplingParams } from "../../backend/sampler/sampler.ts";
import { EngineCore } from "../../backend/inference/engine-core.ts";
import { loadTestEngine, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

// Tokens drawn inside the graph (no logits fetched) against the logits the same step returns.
useTempCache();
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadTestEngine({ model: fixture, threads: 2, kvCacheSequences: 4, contextLength: 64, blockSize: 8 });
});
afterAll(() => engine.close());

const prompt = referenceCases[0].input_ids;
const chunk = (sequence: number) => ({ blocks: reservedBlocks(engine.shape, sequence), past: 0, tokens: prompt });

/** softmax(logits / temperature) summed in float64 up to and including each token. */
function cumulative(logits: Float32Array, temperature: number): Float64Array {
  const max = Math.max(...logits);
  const sums = new Float64Array(logits.length);
  let total = 0;
  logits.forEach((logit, i) => (sums[i] = total += Math.exp((logit - max) / temperature)));
  return sums.map((sum) => sum / total);
}

describe("draws inside the engine", () => {
  it("gives the argmax at temperature 0 and the inverse-CDF token at a uniform, as the logits say", async () => {
    const [logits] = await engine.forward([chunk(0)]);
    const temperature = 0.8;
    const cdf = cumulative(logits, temperature);
    const uniforms = [0, 0.001, 0.25, 0.5, 0.75, 0.999, 1 - 2 ** -30];
    const drawn: number[] = [];
    for (const uniform of uniforms) {
      const [token] = await engine.forward([{ ...chunk(0), draw: { temperature, uniform } }]);
      expect(typeof token).toBe("number");
      drawn.push(token as number);
    }
    for (const [i, token] of drawn.entries()) {
      // The first token whose cumulative mass passes the uniform (float32 in the graph: 1e-5 of slack).
      expect(cdf[token]).toBeGreaterThan(Math.min(uniforms[i], 1 - 1e-6) - 1e-5);
      if (token > 0) expect(cdf[token - 1]).toBeLessThanOrEqual(uniforms[i] + 1e-5);
    }
    expect(new Set(drawn).size).toBeGreaterThan(3);

    // Batched with a greedy row, each row draws as it did alone.
    const batched = await engine.forward([
      { ...chunk(0), draw: { temperature: 0, uniform: 0.5 } },
      ...[1, 2, 3].map((sequence) => ({ ...chunk(sequence), draw: { temperature, uniform: uniforms[sequence + 1] } })),
    ]);
    expect(batched).toEqual([argmax(logits), ...drawn.slice(2, 5)]);
  });

  it("draws the argmax at a temperature so small that its inverse overflows float32", async () => {
    const [logits] = await engine.forward([chunk(0)]);
    for (const temperature of [1e-300, 1e-39, 1e-6]) {
      const [token] = await engine.forward([{ ...chunk(0), draw: { temperature, uniform: 0.7 } }]);
      expect(token, String(temperature)).toBe(argmax(logits));
    }
  });

  it("returns logits for the chunks that want them and tokens for the others in one step", async () => {
    const [alone] = await engine.forward([chunk(0)]);
    const [logits, token] = await engine.forward([chunk(0), { ...chunk(1), draw: { temperature: 0, uniform: 0 } }]);
    expect(logits).toBeInstanceOf(Float32Array);
    expect(token).toBe(argmax(alone));
  });

  it("gives a seeded request the same tokens whether the engine draws them or the model runner samples the logits", async () => {
    const logitsOnly: Engine = {
      shape: engine.shape,
      transfers: engine.transfers,
      attentionReads: engine.attentionReads,
      forward: (chunks) => engine.forward(chunks.map((c) => ({ ...c, draw: undefined }))),
      copyBlock: (from, to) => engine.copyBlock(from, to),
      embed: (sequences, pooling) => engine.embed(sequences, pooling),
      close: async () => undefined,
    };
    const choice: SamplingParams = { temperature: 0.9, topP: 1, seed: 42, presencePenalty: 0, frequencyPenalty: 0 };
    const generate = async (target: Engine) => {
      const core = new EngineCore(target, { maxRunning: 4, maxWaiting: 4, stepTokens: 64, prefixCaching: false });
      const sequences = [
        ...core.scheduler.add({ prompt, maxTokens: 12, choices: [choice] }),
        ...core.scheduler.add({
          prompt: referenceCases[1].input_ids,
          maxTokens: 12,
          choices: [{ ...choice, seed: 7 }],
        }),
      ];
      while (core.scheduler.hasWork) await core.step();
      return sequences.map((sequence) => sequence.generated);
    };
    const [inGraph, inScheduler] = [await generate(engine), await generate(logitsOnly)];
    expect(inGraph).toEqual(inScheduler);
    expect(inGraph.flat()).toHaveLength(24);
  });
});
