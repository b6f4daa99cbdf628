import type { SamplingParams } from "../../../backend/sampler/sampler.ts";
import type { ChoiceSpec, RequestSpec } from "../../../backend/scheduler/sequence.ts";

/** Sampling parameters and request specs as the step-loop tests write them. */
export const greedy: SamplingParams = { temperature: 0, topP: 1, seed: 0, presencePenalty: 0, frequencyPenalty: 0 };
export const sampled = (seed: number): SamplingParams => ({ ...greedy, temperature: 1, topP: 0.9, seed });

/** A request for `prompt`: one greedy choice unless choices are given. */
export const spec = (prompt: number[], maxTokens: number | undefined, ...choices: ChoiceSpec[]): RequestSpec => ({
  prompt,
  maxTokens,
  choices: choices.length > 0 ? choices : [greedy],
});
