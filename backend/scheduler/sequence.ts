import type { FinishReason as ApiFinishReason } from "../../protocol/chat.ts";
import type { Draw } from "../engine/engine.ts";
import { Sampler, type SamplingParams } from "../sampler/sampler.ts";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import { emptyBlockTable, type BlockTable } from "./kv-cache-manager.ts";
import type { RequestTimeline } from "./request-timeline.ts";

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
  /** Only requests with the same salt share prefix-cache blocks (the tenant's, set by the gateway). */
  cacheSalt?: string;
  /** Who the request is for: the scheduler shares seats and prefill fairly between tenants. */
  tenant?: string;
}

/** One generated choice: its prompt, its KV blocks once admitted, and what it produced so far. */
export class Sequence {
  readonly generated: number[] = [];
  readonly sampler: Sampler;
  readonly constraint: TokenConstraint | undefined;
  readonly prompt: number[];
  readonly maxTokens: number | undefined;
  readonly topLogprobs: number | undefined;
  readonly tenant: string;
  /** KV blocks while running; empty while waiting or after release. */
  readonly blocks: BlockTable;
  /** Positions whose keys and values are in the blocks. */
  computed = 0;
  /** Prompt tokens found in the prefix cache when the request was admitted. */
  cachedTokens = 0;
  /** The choice of the same request whose prefill this one shares instead of computing, until it is shared. */
  forkOf: Sequence | undefined;
  /**
   * Logits waiting for the sequence's grammar mask, which was not there when they were (its grammar
   * thread was busy compiling): the model runner samples them once it is, and the scheduler plans
   * nothing for the sequence meanwhile.
   */
  deferred: { logits: Float32Array; draw: Draw | undefined } | undefined;
  finish: FinishReason | undefined;
  error: string | undefined;

  constructor(
    request: RequestSpec,
    choice: ChoiceSpec,
    /** Its request's, shared with the request's other choices. */
    readonly timeline: RequestTimeline,
  ) {
    this.prompt = request.prompt;
    this.maxTokens = request.maxTokens;
    this.topLogprobs = request.topLogprobs;
    this.tenant = request.tenant ?? "";
    this.blocks = emptyBlockTable(request.cacheSalt);
    this.sampler = new Sampler(choice);
    this.constraint = choice.constraint;
  }

  get total(): number {
    return this.prompt.length + this.generated.length;
  }

  /** Tokens [from, to) of prompt + generated. */
  tokens(from = 0, to = this.total): number[] {
    const prompt = this.prompt.slice(from, to);
    return to <= this.prompt.length
      ? prompt
      : [...prompt, ...this.generated.slice(Math.max(0, from - this.prompt.length), to - this.prompt.length)];
  }

  /**
   * The tokens the next step must feed (up to `budget`): the rest of the prompt, or the last sampled
   * token, or after a preemption everything again (what the prefix cache no longer holds).
   */
  pending(budget: number): number[] {
    return this.tokens(this.computed, Math.min(this.total, this.computed + budget));
  }

  /** More than one token to feed: the prompt (or a preempted sequence's tokens) is still being computed. */
  get prefilling(): boolean {
    return this.total - this.computed > 1;
  }

  /** Waiting for a sibling's prefill; if that sibling ends first (cancelled, failed), this one prefills itself. */
  get awaitsFork(): boolean {
    return this.forkOf !== undefined && this.forkOf.finish === undefined;
  }
}
