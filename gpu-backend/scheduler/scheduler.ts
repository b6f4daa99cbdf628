import type { Engine, SlotChunk } from "../engine/engine.ts";
import { Sequence, type FinishReason, type SequenceSpec } from "./sequence.ts";

export interface SchedulerConfig {
  /** Sequences running at once (capped by the engine's KV slots). */
  maxRunning: number;
  /** Sequences allowed to wait for a slot; beyond it `add` throws QueueFullError. */
  maxWaiting: number;
  /** Tokens one step may feed: decodes first, then prefill chunks of newcomers share the rest. */
  stepTokens: number;
}

export class QueueFullError extends Error {}

/** What a step did to one sequence: a new token, a finish, or both. */
export interface StepOutput {
  sequence: Sequence;
  token: number | undefined;
  finish: FinishReason | undefined;
}

export interface SchedulerStats {
  running: number;
  waiting: number;
  freeSlots: number;
  slots: number;
}

/**
 * Continuous batching in vLLM v1's manner: a step feeds one decode token for every running
 * sequence plus chunks of prompts (newcomers join while the others decode, and a long prompt
 * is spread over several steps under the token budget), so sequences join and leave between
 * steps without waiting for a batch to drain. A sequence holds a KV slot from admission to finish.
 */
export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly freeSlots: number[];
  readonly slots: number;

  constructor(
    private readonly engine: Engine,
    private readonly config: SchedulerConfig,
  ) {
    this.slots = Math.min(config.maxRunning, engine.shape.slots);
    this.freeSlots = Array.from({ length: this.slots }, (_, slot) => this.slots - 1 - slot);
  }

  /**
   * Queues sequences all at once or none (a request's n choices together). The bound counts the
   * sequences that will still wait once the next step has filled the free slots.
   */
  add(specs: SequenceSpec[]): Sequence[] {
    if (this.waiting.length + specs.length > this.config.maxWaiting + this.freeSlots.length) throw new QueueFullError("the request queue is full");
    const sequences = specs.map((spec) => new Sequence(spec));
    this.waiting.push(...sequences);
    return sequences;
  }

  /**
   * Ends a sequence early (client gone, stop string; the reason overrides one the step set, as a
   * stop string on the last allowed token still ends with "stop"); its slot is freed at the end of
   * the current step at the latest.
   */
  abort(sequence: Sequence, reason: FinishReason): void {
    sequence.finish = reason;
    const index = this.waiting.indexOf(sequence);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  stats(): SchedulerStats {
    return { running: this.running.length, waiting: this.waiting.length, freeSlots: this.freeSlots.length, slots: this.slots };
  }

  async step(): Promise<StepOutput[]> {
    this.reap();
    const batch = this.schedule();
    if (batch.length === 0) return [];
    const logits = await this.forward(batch);
    const outputs: StepOutput[] = [];
    batch.forEach(({ sequence, tokens }, i) => {
      if (sequence.finish !== undefined) return;
      const row = logits[i];
      if (row === undefined) return outputs.push(this.fail(sequence, sequence.error ?? "inference failed"));
      sequence.computed += tokens.length;
      if (sequence.computed < sequence.total) return;
      try {
        outputs.push(this.advance(sequence, sequence.sampler.sample(row)));
      } catch (error) {
        outputs.push(this.fail(sequence, (error as Error).message));
      }
    });
    this.reap();
    return outputs;
  }

  /** Decodes first (one token each), then running prefills, then newcomers while slots and budget last. */
  private schedule(): { sequence: Sequence; tokens: number[] }[] {
    const batch: { sequence: Sequence; tokens: number[] }[] = [];
    let budget = this.config.stepTokens;
    for (const sequence of this.running) {
      if (sequence.prefilling) continue;
      batch.push({ sequence, tokens: sequence.pending(1) });
      budget -= 1;
    }
    for (const sequence of this.running) {
      if (!sequence.prefilling || budget <= 0) continue;
      const tokens = sequence.pending(budget);
      batch.push({ sequence, tokens });
      budget -= tokens.length;
    }
    while (budget > 0 && this.waiting.length > 0 && this.freeSlots.length > 0) {
      const sequence = this.waiting.shift()!;
      sequence.slot = this.freeSlots.pop()!;
      this.running.push(sequence);
      const tokens = sequence.pending(budget);
      batch.push({ sequence, tokens });
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
