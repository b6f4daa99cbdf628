import { describe, expect, it } from "vitest";
import { choiceSeed } from "../../backend/sampler/random.ts";
import { Sampler, type SamplingParams } from "../../backend/sampler/sampler.ts";

const base: SamplingParams = { temperature: 1, topP: 1, seed: 42, presencePenalty: 0, frequencyPenalty: 0 };

/** Logits of a small vocabulary: token i has logit `values[i]`. */
const logits = (...values: number[]) => Float32Array.from(values);

function draws(params: SamplingParams, row: Float32Array, count: number): number[] {
  const sampler = new Sampler(params);
  return Array.from({ length: count }, () => sampler.sample(row));
}

describe("sampler", () => {
  const flat = logits(0, 0, 0, 0, 0, 0, 0, 0);

  it("temperature 0 is greedy, and so is one whose inverse overflows (not a NaN draw)", () => {
    expect(draws({ ...base, temperature: 0 }, logits(0.1, 3, 2.9, -1), 5)).toEqual([1, 1, 1, 1, 1]);
    expect(draws({ ...base, temperature: 1e-320 }, logits(0.1, 3, 2.9, -1), 3)).toEqual([1, 1, 1]);
    expect(new Sampler({ ...base, temperature: 1e-320 }).engineDraw()).toEqual({ temperature: 1e-320, uniform: 0 });
  });

  it("the same seed gives the same draws; another seed other draws", () => {
    expect(draws(base, flat, 50)).toEqual(draws(base, flat, 50));
    expect(draws({ ...base, seed: 43 }, flat, 50)).not.toEqual(draws(base, flat, 50));
  });

  it("draws follow the softmax", () => {
    const counts = [0, 0];
    for (const token of draws(base, logits(0, Math.log(3)), 4000)) counts[token]++;
    expect(counts[1] / 4000).toBeCloseTo(0.75, 1);
  });

  it("top_p keeps only the smallest set of tokens reaching the mass", () => {
    // Probabilities ≈ 0.6, 0.3, 0.1: top_p 0.8 allows tokens 0 and 1 only.
    const row = logits(Math.log(0.6), Math.log(0.3), Math.log(0.1));
    const seen = new Set(draws({ ...base, topP: 0.8 }, row, 500));
    expect(seen).toEqual(new Set([0, 1]));
    expect(new Set(draws({ ...base, topP: 0.5 }, row, 200))).toEqual(new Set([0]));
  });

  it("frequency and presence penalties push generated tokens down", () => {
    const row = logits(2, 1.5, 0);
    expect(draws({ ...base, temperature: 0, frequencyPenalty: 0.3 }, row, 4)).toEqual([0, 0, 1, 0]);
    expect(draws({ ...base, temperature: 0, presencePenalty: 1 }, row, 3)).toEqual([0, 1, 0]);
  });

  it("choices of one request get distinct seeds, the first the request's own", () => {
    expect(choiceSeed(42, 0)).toBe(42);
    const seeds = new Set(Array.from({ length: 8 }, (_, i) => choiceSeed(42, i)));
    expect(seeds.size).toBe(8);
  });
});
