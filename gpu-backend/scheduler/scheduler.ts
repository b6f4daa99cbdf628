import type { Engine, SlotChunk } from "../engine/engine.ts";
import { tokenLogprobs, type TokenLogprobs } from "../sampler/logprobs.ts";
import { maskLogits } from "../sampler/token-constraint.ts";
import { Sequence, type FinishReason, type RequestSpec } from "./sequence.ts";

export interface SchedulerConfig {
  /** Sequences running at once (capped by the engine's KV slots). */
  maxRunning: number;
  /** Sequences allowed to wait for a slot; beyond it `add` throws QueueFullError. */
  maxWaiting: number;
  /** Tokens one step may feed: decodes first, then prefill chunks of newcomers share the rest. */
  stepTokens: number;
}

export class QueueFullError extends Error {}
/** A request wants more choices than there are slots: its n choices run at once, so it could never start. */
export class TooManyChoicesError extends Error {}

/** What a step did to one sequence: a new token, a finish, or both. */
export interface StepOutput {
  sequence: Sequence;
  token: number | undefined;
  finish: FinishReason | undefined;
  /** The token's log-probability and alternatives, when the request asked for them. */
  logprobs?: TokenLogprobs;
}

export interface SchedulerStats {
  running: number;
  waiting: number;
  freeSlots: number;
  slots: number;
  /** Prompt tokens prefilled since the start (a request's n choices count once). */
  prefilledTokens: number;
}

/**
 * Continuous batching in vLLM v1's manner: a step feeds one decode token for every running
 * sequence plus chunks of prompts (newcomers join while the others decode, and a long prompt
 * is spread over several steps under the token budget), so sequences join and leave between
 * steps without waiting for a batch to drain. A sequence holds a KV slot from admission to finish.
 *
 * A request's n choices share one prefill, as in vLLM: they are admitted together (FIFO, once n
 * slots are free, so a fork always finds its slot), choice 0 prefills, and when its prefill ends
 * the others get a copy of its KV cache and sample their first token from the same logits.
 */
export class Scheduler {
  /** Requests waiting for slots, each as its choices. */
  private readonly waiting: Sequence[][] = [];
  private readonly running: Sequence[] = [];
  private readonly freeSlots: number[];
  private prefilledTokens = 0;
  readonly slots: number;

  constructor(
    private readonly engine: Engine,
    private readonly config: SchedulerConfig,
  ) {
    this.slots = Math.min(config.maxRunning, engine.shape.slots);
    this.freeSlots = Array.from({ length: this.slots }, (_, slot) => this.slots - 1 - slot);
  }

  /**
   * Queues a request's choices, all or none. The bound counts the sequences that will still wait
   * once the next step has filled the free slots.
   */
  add(request: RequestSpec): Sequence[] {
    const n = request.choices.length;
    if (n > this.slots) throw new TooManyChoicesError(`n = ${n} choices exceed the ${this.slots} sequences this backend runs at once.`);
    if (this.waitingCount() + n > this.config.maxWaiting + this.freeSlots.length) throw new QueueFullError("the request queue is full");
    const sequences = request.choices.map((sampling) => new Sequence(request.prompt, request.maxTokens, sampling, request.topLogprobs));
    this.waiting.push(sequences);
    return sequences;
  }

  private waitingCount(): number {
    return this.waiting.reduce((count, choices) => count + choices.length, 0);
  }

  /**
   * Ends a sequence early (client gone, stop string; the reason overrides one the step set, as a
   * stop string on the last allowed token still ends with "stop"); its slot is freed at the end of
   * the current step at the latest.
   */
  abort(sequence: Sequence, reason: FinishReason): void {
    sequence.finish = reason;
    const request = this.waiting.findIndex((choices) => choices.includes(sequence));
    if (request < 0) return;
    const choices = this.waiting[request].filter((choice) => choice !== sequence);
    if (choices.length > 0) this.waiting[request] = choices;
    else this.waiting.splice(request, 1);
  }

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  stats(): SchedulerStats {
    return { running: this.running.length, waiting: this.waitingCount(), freeSlots: this.freeSlots.length, slots: this.slots, prefilledTokens: this.prefilledTokens };
  }

  async step(): Promise<StepOutput[]> {
    this.reap();
    const batch = this.schedule();
    if (batch.length === 0) return [];
    const logits = await this.forward(batch);
    const outputs: StepOutput[] = [];
    for (const [i, { sequence, tokens }] of batch.entries()) {
      if (sequence.finish !== undefined) continue;
      const row = logits[i];
      if (row === undefined) {
        outputs.push(this.fail(sequence, sequence.error ?? "inference failed"));
        continue;
      }
      if (sequence.prefilling) this.prefilledTokens += tokens.length;
      sequence.computed += tokens.length;
      if (sequence.computed < sequence.total) continue;
      const choices = sequence.generated.length === 0 ? [sequence, ...this.fork(sequence)] : [sequence];
      for (const choice of choices) outputs.push(await this.sample(choice, row));
    }
    this.reap();
    return outputs;
  }

  /** Decodes first (one token each), then running prefills, then newcomers (a request's choices at once) while slots and budget last. */
  private schedule(): { sequence: Sequence; tokens: number[] }[] {
    const batch: { sequence: Sequence; tokens: number[] }[] = [];
    let budget = this.config.stepTokens;
    for (const sequence of this.running) {
      if (sequence.prefilling) continue;
      batch.push({ sequence, tokens: sequence.pending(1) });
      budget -= 1;
    }
    for (const sequence of this.running) {
      if (!sequence.prefilling || sequence.awaitsFork || budget <= 0) continue;
      const tokens = sequence.pending(budget);
      batch.push({ sequence, tokens });
      budget -= tokens.length;
    }
    while (budget > 0 && this.waiting.length > 0 && this.freeSlots.length >= this.waiting[0].length) {
      const [first, ...others] = this.waiting.shift()!;
      for (const choice of [first, ...others]) {
        choice.slot = this.freeSlots.pop()!;
        this.running.push(choice);
      }
      for (const other of others) other.forkOf = first;
      const tokens = first.pending(budget);
      batch.push({ sequence: first, tokens });
      budget -= tokens.length;
    }
    return batch;
  }

  /**
   * One engine call for the whole batch. If it throws, each chunk the engine did not apply is
   * retried alone, so a request that breaks the engine fails by itself and the others go on.
   */
  private async forward(batch: { sequence: Sequence; tokens: number[] }[]): Promise<(Float32Array | undefined)[]> {
    const chunks: SlotChunk[] = batch.map(({ sequence, tokens }) => ({ slot: sequence.slot, tokens }));
    try {
      return await this.engine.forward(chunks);
    } catch (error) {
      if (batch.length === 1) {
        batch[0].sequence.error = (error as Error).message;
        return [undefined];
      }
      const rows: (Float32Array | undefined)[] = [];
      for (const [i, { sequence }] of batch.entries()) {
        if (this.engine.length(sequence.slot) !== sequence.computed) {
          sequence.error = (error as Error).message;
          rows.push(undefined);
          continue;
        }
        rows.push(...(await this.forward([batch[i]])));
      }
      return rows;
    }
  }

  /** The choices waiting for `sequence`'s prefill, now given a copy of its KV cache instead of their own prefill. */
  private fork(sequence: Sequence): Sequence[] {
    const forks = this.running.filter((other) => other.forkOf === sequence && other.finish === undefined);
    for (const fork of forks) {
      this.engine.copySlot(sequence.slot, fork.slot);
      fork.computed = sequence.computed;
      fork.forkOf = undefined;
    }
    return forks;
  }

  /** Masks the logits if the sequence is constrained (on a copy: n choices share one row), samples, reports logprobs. */
  private async sample(sequence: Sequence, logits: Float32Array): Promise<StepOutput> {
    try {
      const allowed = await sequence.constraint?.allowed();
      const token = sequence.sampler.sample(allowed ? maskLogits(logits, allowed) : logits);
      sequence.constraint?.accept(token);
      const logprobs = sequence.topLogprobs === undefined ? undefined : tokenLogprobs(logits, token, sequence.topLogprobs);
      return { ...this.advance(sequence, token), logprobs };
    } catch (error) {
      return this.fail(sequence, (error as Error).message);
    }
  }

  private advance(sequence: Sequence, token: number): StepOutput {
    sequence.generated.push(token);
    const { eosTokenId, contextLength } = this.engine.shape;
    if (token === eosTokenId) sequence.finish = "stop";
    else if (sequence.maxTokens !== undefined && sequence.generated.length >= sequence.maxTokens) sequence.finish = "length";
    else if (sequence.total >= contextLength) sequence.finish = "model_length";
    return { sequence, token, finish: sequence.finish };
  }

  private fail(sequence: Sequence, message: string): StepOutput {
    sequence.finish = "error";
    sequence.error = message;
    return { sequence, token: undefined, finish: "error" };
  }

  /** Frees the slots of finished sequences. */
  private reap(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const sequence = this.running[i];
      if (sequence.finish === undefined) continue;
      this.running.splice(i, 1);
      this.engine.release(sequence.slot);
      this.freeSlots.push(sequence.slot);
      sequence.slot = -1;
    }
  }
}
