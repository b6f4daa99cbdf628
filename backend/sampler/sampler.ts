import type { Draw } from "../engine/engine.ts";
import { SeededRandom } from "./random.ts";

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]. */
  topP: number;
  seed: number;
  presencePenalty: number;
  frequencyPenalty: number;
}

/**
 * Turns one sequence's last-position logits into its next token. Owns the sequence's PRNG and
 * the counts of the tokens it generated (penalties apply to generated tokens, as OpenAI and
 * Mistral define them: logit -= frequency * count + presence * [count > 0]).
 */
export class Sampler {
  private readonly random: SeededRandom;
  private readonly counts = new Map<number, number>();
  /** Unnormalised softmax weights, reused every step (a vocabulary-sized buffer per sequence). */
  private weights: Float64Array | undefined;

  constructor(private readonly params: SamplingParams) {
    this.random = new SeededRandom(params.seed);
  }

  /** Temperature 0, or one so small that 1 / temperature overflows: the limit of sampling is the argmax. */
  private get greedy(): boolean {
    return !Number.isFinite(1 / this.params.temperature);
  }

  /**
   * The draw the engine can make from the logits itself (no top_p and no penalties to apply), with
   * this step's uniform number taken from the sequence's PRNG; undefined when the logits must come here.
   */
  engineDraw(): Draw | undefined {
    const { temperature, topP, presencePenalty, frequencyPenalty } = this.params;
    if (topP < 1 || presencePenalty !== 0 || frequencyPenalty !== 0) return undefined;
    return { temperature, uniform: this.greedy ? 0 : this.random.next() };
  }

  /** Samples from the logits; with `planned`, the engine draw it stands in for (same uniform number). */
  sample(logits: Float32Array, planned?: Draw): number {
    const scores = this.penalised(logits);
    const token = this.greedy ? argmax(scores) : this.draw(scores, planned?.uniform ?? this.random.next());
    this.record(token);
    return token;
  }

  /** Counts a generated token for the penalties (the engine's draws included). */
  record(token: number): void {
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
  }

  private penalised(logits: Float32Array): Float32Array {
    const { presencePenalty, frequencyPenalty } = this.params;
    if (this.counts.size === 0 || (presencePenalty === 0 && frequencyPenalty === 0)) return logits;
    const scores = Float32Array.from(logits);
    for (const [token, count] of this.counts) scores[token] -= frequencyPenalty * count + presencePenalty;
    return scores;
  }

  private draw(scores: Float32Array, u: number): number {
    this.weights ??= new Float64Array(scores.length);
    const total = softmaxWeights(scores, this.params.temperature, this.weights);
    return this.params.topP >= 1
      ? drawFrom(this.weights, total, u)
      : drawFromNucleus(this.weights, total, this.params.topP, u);
  }
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * exp((score - max) / T) into `weights`, returning their sum; the division by the sum is left to
 * the draw. Weights below e^-40 are taken as 0: together they are under 1e-13 of the mass, far
 * below the PRNG's 2^-32 resolution, and skipping exp() for them is most of the work on a real model.
 */
function softmaxWeights(scores: Float32Array, temperature: number, weights: Float64Array): number {
  let max = -Infinity;
  for (const score of scores) if (score > max) max = score;
  const scale = 1 / temperature;
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const x = (scores[i] - max) * scale;
    const weight = x > -40 ? Math.exp(x) : 0;
    weights[i] = weight;
    total += weight;
  }
  return total;
}

function drawFrom(weights: Float64Array, total: number, u: number): number {
  const target = u * total;
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i];
    if (target < cumulative) return i;
  }
  return lastNonZero(weights);
}

/**
 * Top-p as llama2.c does it: a token below (1 - p) / (V - 1) of the mass can never be in the
 * nucleus, so only the few candidates above that cut are sorted instead of the whole vocabulary.
 */
function drawFromNucleus(weights: Float64Array, total: number, topP: number, u: number): number {
  const cutoff = ((1 - topP) / (weights.length - 1)) * total;
  const candidates: number[] = [];
  for (let i = 0; i < weights.length; i++) if (weights[i] >= cutoff) candidates.push(i);
  candidates.sort((a, b) => weights[b] - weights[a] || a - b);
  const needed = topP * total;
  let mass = 0;
  let last = candidates.length - 1;
  for (let i = 0; i < candidates.length; i++) {
    mass += weights[candidates[i]];
    if (mass >= needed) {
      last = i;
      break;
    }
  }
  const target = u * mass;
  let cumulative = 0;
  for (let i = 0; i <= last; i++) {
    cumulative += weights[candidates[i]];
    if (target < cumulative) return candidates[i];
  }
  return candidates[last];
}

function lastNonZero(weights: Float64Array): number {
  for (let i = weights.length - 1; i > 0; i--) if (weights[i] > 0) return i;
  return 0;
}
