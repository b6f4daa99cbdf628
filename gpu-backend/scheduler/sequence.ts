import type { FinishReason as ApiFinishReason } from "../../protocol/chat.ts";
import { Sampler, type SamplingParams } from "../sampler/sampler.ts";
import type { TokenConstraint } from "../sampler/token-constraint.ts";

/** The API's finish reasons but tool_calls, which the output side decides from what was generated. */
export type FinishReason = Exclude<ApiFinishReason, "tool_calls">;

/** One choice's sampling, and what restricts its tokens (a grammar), if anything. */
export interface ChoiceSpec extends SamplingParams {
  constraint?: TokenConstraint;
}

/** One request as the scheduler takes it: a prompt and the sampling of each of its n choices, which share one prefill. */
export interface RequestSpec {
  prompt: number[];
  /** Undefined: generate until EOS or the context is full. */
  maxTokens: number | undefined;
  choices: ChoiceSpec[];
  /** Report each sampled token's log-probability and this many alternatives; undefined: no logprobs. */
  topLogprobs?: number;
}

/** One generated choice: its prompt, its KV slot once admitted, and what it produced so far. */
export class Sequence {
  readonly generated: number[] = [];
  readonly sampler: Sampler;
  readonly constraint: TokenConstraint | undefined;
  /** KV slot while running, -1 while waiting or after release. */
  slot = -1;
  /** Tokens already in the slot's KV cache. */
  computed = 0;
  /** The choice of the same request whose prefill this one copies instead of computing, until it is copied. */
  forkOf: Sequence | undefined;
  finish: FinishReason | undefined;
  error: string | undefined;

  constructor(
    readonly prompt: number[],
    readonly maxTokens: number | undefined,
    choice: ChoiceSpec,
    readonly topLogprobs: number | undefined = undefined,
  ) {
    this.sampler = new Sampler(choice);
    this.constraint = choice.constraint;
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

  /** Waiting for the copy of a sibling's prefill; if that sibling ends first (cancelled, failed), this one prefills itself. */
  get awaitsFork(): boolean {
    return this.forkOf !== undefined && this.forkOf.finish === undefined;
  }
}
