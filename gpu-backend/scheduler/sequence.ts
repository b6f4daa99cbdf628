import { Sampler, type SamplingParams } from "../sampler/sampler.ts";

export type FinishReason = "stop" | "length" | "model_length" | "error";

export interface SequenceSpec {
  prompt: number[];
  /** Undefined: generate until EOS or the context is full. */
  maxTokens: number | undefined;
  sampling: SamplingParams;
}

/** One generated choice: its prompt, its KV slot once admitted, and what it produced so far. */
export class Sequence {
  readonly prompt: number[];
  readonly maxTokens: number | undefined;
  readonly sampler: Sampler;
  readonly generated: number[] = [];
  /** KV slot while running, -1 while waiting or after release. */
  slot = -1;
  /** Tokens already in the slot's KV cache. */
  computed = 0;
  finish: FinishReason | undefined;
  error: string | undefined;

  constructor(spec: SequenceSpec) {
    this.prompt = spec.prompt;
    this.maxTokens = spec.maxTokens;
    this.sampler = new Sampler(spec.sampling);
  }

  get total(): number {
    return this.prompt.length + this.generated.length;
  }

  /** The tokens the next step must feed: the rest of the prompt (up to `budget`) or the last sampled token. */
  pending(budget: number): number[] {
    if (this.computed < this.prompt.length) return this.prompt.slice(this.computed, this.computed + budget);
    return [this.generated[this.generated.length - 1]];
  }

  get prefilling(): boolean {
    return this.computed < this.prompt.length;
  }
}
