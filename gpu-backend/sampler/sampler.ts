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

  constructor(private readonly params: SamplingParams) {
    this.random = new SeededRandom(params.seed);
  }

  sample(logits: Float32Array): number {
    const scores = this.penalised(logits);
    const token = this.params.temperature === 0 ? argmax(scores) : this.draw(scores);
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    return token;
  }

  private penalised(logits: Float32Array): Float32Array {
    const { presencePenalty, frequencyPenalty } = this.params;
    if (this.counts.size === 0 || (presencePenalty === 0 && frequencyPenalty === 0)) return logits;
    const scores = Float32Array.from(logits);
    for (const [token, count] of this.counts) scores[token] -= frequencyPenalty * count + presencePenalty;
    return scores;
  }

  private draw(scores: Float32Array): number {
    const probabilities = softmax(scores, this.params.temperature);
    const u = this.random.next();
    return this.params.topP >= 1 ? drawFrom(probabilities, u) : drawFromNucleus(probabilities, this.params.topP, u);
  }
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function softmax(scores: Float32Array, temperature: number): Float64Array {
  let max = -Infinity;
  for (const score of scores) if (score > max) max = score;
  const probabilities = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    probabilities[i] = Math.exp((scores[i] - max) / temperature);
    sum += probabilities[i];
  }
  for (let i = 0; i < probabilities.length; i++) probabilities[i] /= sum;
  return probabilities;
}

function drawFrom(probabilities: Float64Array, u: number): number {
  let cumulative = 0;
  for (let i = 0; i < probabilities.length; i++) {
    cumulative += probabilities[i];
    if (u < cumulative) return i;
  }
  return lastNonZero(probabilities);
}

/**
 * Top-p as llama2.c does it: a token below (1 - p) / (V - 1) can never be in the nucleus, so only
 * the few candidates above that cut are sorted instead of the whole vocabulary.
 */
function drawFromNucleus(probabilities: Float64Array, topP: number, u: number): number {
  const cutoff = (1 - topP) / (probabilities.length - 1);
  const candidates: number[] = [];
  for (let i = 0; i < probabilities.length; i++) if (probabilities[i] >= cutoff) candidates.push(i);
  candidates.sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  let mass = 0;
  let last = candidates.length - 1;
  for (let i = 0; i < candidates.length; i++) {
    mass += probabilities[candidates[i]];
    if (mass >= topP) {
      last = i;
      break;
    }
  }
  const target = u * mass;
  let cumulative = 0;
  for (let i = 0; i <= last; i++) {
    cumulative += probabilities[candidates[i]];
    if (target < cumulative) return candidates[i];
  }
  return candidates[last];
}

function lastNonZero(probabilities: Float64Array): number {
  for (let i = probabilities.length - 1; i > 0; i--) if (probabilities[i] > 0) return i;
  return 0;
}
