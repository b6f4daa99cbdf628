import type { Draw, Engine, SequenceChunk } from "../engine/engine.ts";
import { tokenLogprobs, type TokenLogprobs } from "../sampler/logprobs.ts";
import { maskLogits, type TokenConstraint } from "../sampler/token-constraint.ts";
import { nextWaiting, seatDonor, seatsByTenant, splitPrefillBudget } from "./fair-share.ts";
import { KvCacheManager } from "./kv-cache-manager.ts";
import { Sequence, type FinishReason, type RequestSpec } from "./sequence.ts";

export interface SchedulerConfig {
  /** Sequences running at once (vLLM's max_num_seqs). */
  maxRunning: number;
  /** Sequences allowed to wait for a seat; beyond it `add` throws QueueFullError. */
  maxWaiting: number;
  /** Tokens one step may feed: decodes first, then prefill chunks of newcomers share the rest. */
  stepTokens: number;
  /** Keep finished sequences' full KV blocks for later requests with the same prefix (vLLM's automatic prefix caching). */
  prefixCaching: boolean;
}

export class QueueFullError extends Error {}
/** A request wants more choices than sequences run at once: its n choices run together, so it could never start. */
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
  /** Sequences that could still start now (max running minus running). */
  freeSlots: number;
  slots: number;
  kvBlocks: number;
  /** KV blocks free or only held by the prefix cache. */
  freeKvBlocks: number;
  /** Prompt tokens since the start: prefilled or found in the prefix cache (as vLLM counts them); a request's n choices count once. */
  prefilledTokens: number;
  /** Prompt tokens looked up in the prefix cache, and those found there. */
  prefixCacheQueries: number;
  prefixCacheHits: number;
  /** Sequences sent back to the queue to free KV blocks for others. */
  preemptions: number;
}

interface ScheduledChunk {
  sequence: Sequence;
  tokens: number[];
  /** Set when the engine draws the sequence's next token itself (see engineDraw). */
  draw?: Draw;
}

const NOT_THERE = Symbol("mask not there yet");
type MaybeMask = Int32Array | undefined | typeof NOT_THERE;

/**
 * How long a step waits for grammar masks that are not there when its logits are: masks are
 * computed while the engine runs, so one late by more than this is behind a compile.
 */
const MASK_GRACE_MS = 10;

/** A deadline shared by one step's mask waits, so they wait MASK_GRACE_MS in all, not each. */
function maskDeadline(): Promise<typeof NOT_THERE> {
  return new Promise((resolve) => setTimeout(() => resolve(NOT_THERE), MASK_GRACE_MS));
}

/** What the engine returned for a chunk: its logits, the token it drew, or nothing (the chunk failed). */
type ChunkResult = Float32Array | number | undefined;

/**
 * Continuous batching in vLLM v1's manner: a step feeds one decode token for every running
 * sequence plus chunks of prompts (newcomers join while the others decode, and a long prompt
 * is spread over several steps under the token budget), so sequences join and leave between
 * steps without waiting for a batch to drain.
 *
 * Tenants (API keys) share the seats and the prefill budget (fair-share.ts): the waiting request of
 * the tenant holding the fewest seats goes first, a tenant below its share may take a seat from one
 * above it, and within a tenant requests keep their arrival order.
 *
 * KV memory is the KV-cache manager's blocks. A request is admitted when a seat is free and
 * its prompt's blocks (less what the prefix cache holds) can be allocated; a running sequence
 * takes a new block when it grows into one. When none is free, the latest admitted sequence is
 * preempted: its blocks return (the full ones stay in the prefix cache) and it goes back to the
 * head of the queue to be recomputed, as vLLM does, so no sequence fails for lack of blocks.
 *
 * A request's n choices share one prefill, as in vLLM: they are admitted together, choice 0
 * prefills, and when its prefill ends the others share its full blocks, get a copy of its last
 * partial block, and sample their first token from the same logits.
 */
export class Scheduler {
  /** Requests waiting for a seat and blocks, each as its choices. */
  private readonly waiting: Sequence[][] = [];
  /** In admission order: the last is the first preempted. */
  private readonly running: Sequence[] = [];
  private readonly kv: KvCacheManager;
  private prefilledTokens = 0;
  private preemptions = 0;
  /** The deadline of the current step's mask waits, while one runs (see mask()). */
  private deadline: Promise<typeof NOT_THERE> | undefined;
  /** Steps scheduled so far: which tenant's prefill goes first rotates with it. */
  private turn = 0;
  readonly slots: number;

  constructor(
    private readonly engine: Engine,
    private readonly config: SchedulerConfig,
  ) {
    this.slots = config.maxRunning;
    this.kv = new KvCacheManager(engine.shape.kvBlocks, engine.shape.blockSize, config.prefixCaching);
  }

  /**
   * Queues a request's choices, all or none. The bound counts the sequences that will still wait
   * once the next step has filled the free seats.
   */
  add(request: RequestSpec): Sequence[] {
    const n = request.choices.length;
    if (n > this.slots)
      throw new TooManyChoicesError(`n = ${n} choices exceed the ${this.slots} sequences this backend runs at once.`);
    if (this.waitingCount() + n > this.config.maxWaiting + this.freeSeats())
      throw new QueueFullError("the request queue is full");
    const sequences = request.choices.map((sampling) => new Sequence(request, sampling));
    this.waiting.push(sequences);
    return sequences;
  }

  private waitingCount(): number {
    return this.waiting.reduce((count, choices) => count + choices.length, 0);
  }

  private freeSeats(): number {
    return this.slots - this.running.length;
  }

  /**
   * Ends a sequence early (client gone, stop string; the reason overrides one the step set, as a
   * stop string on the last allowed token still ends with "stop"); its blocks are freed at the end
   * of the current step at the latest.
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
    return {
      running: this.running.length,
      waiting: this.waitingCount(),
      freeSlots: this.freeSeats(),
      slots: this.slots,
      kvBlocks: this.kv.blocks,
      freeKvBlocks: this.kv.freeBlocks,
      prefilledTokens: this.prefilledTokens,
      prefixCacheQueries: this.kv.queries,
      prefixCacheHits: this.kv.hits,
      preemptions: this.preemptions,
    };
  }

  async step(): Promise<StepOutput[]> {
    this.reap();
    const outputs = await this.sampleDeferred();
    const batch = this.schedule();
    if (batch.length === 0) {
      // Only sequences waiting for a grammar mask are left: wait for the first one rather than spin.
      const deferred = this.running.filter((sequence) => sequence.deferred && sequence.finish === undefined);
      if (outputs.length === 0 && deferred.length > 0)
        await Promise.race(deferred.map((sequence) => sequence.constraint!.allowed().catch(() => {})));
      return outputs;
    }
    for (const chunk of batch) chunk.draw = this.engineDraw(chunk);
    const results = await this.forward(batch);
    for (const [i, { sequence, tokens, draw }] of batch.entries()) {
      if (sequence.finish !== undefined) continue;
      const row = results[i];
      if (row === undefined) {
        outputs.push(this.fail(sequence, sequence.error ?? "inference failed"));
        continue;
      }
      this.prefilledTokens += Math.max(
        0,
        Math.min(sequence.prompt.length, sequence.computed + tokens.length) - sequence.computed,
      );
      sequence.computed += tokens.length;
      this.kv.commit(sequence.blocks, (from, to) => sequence.tokens(from, to), sequence.computed);
      if (sequence.computed < sequence.total) continue;
      const choices = sequence.generated.length === 0 ? [sequence, ...this.fork(sequence)] : [sequence];
      for (const choice of choices) {
        const output = await this.sample(choice, row, choice === sequence ? draw : undefined);
        if (output) outputs.push(output);
      }
    }
    this.reap();
    return outputs;
  }

  /** Samples the sequences whose grammar masks have come since their logits did. */
  private async sampleDeferred(): Promise<StepOutput[]> {
    const outputs: StepOutput[] = [];
    for (const sequence of this.running) {
      if (!sequence.deferred || sequence.finish !== undefined) continue;
      const { logits, draw } = sequence.deferred;
      const output = await this.sample(sequence, logits, draw);
      if (output) outputs.push(output);
    }
    return outputs;
  }

  /** The sequence's mask, or NOT_THERE if it is not there by this step's deadline. */
  private mask(constraint: TokenConstraint): Promise<MaybeMask> {
    this.deadline ??= maskDeadline().finally(() => (this.deadline = undefined));
    return Promise.race([constraint.allowed(), this.deadline]);
  }

  /**
   * Lets the engine draw the chunk's next token when the step ends its prompt or decodes, and
   * nothing but the token is needed: no grammar, no logprobs, no choices waiting to share its logits.
   */
  private engineDraw({ sequence, tokens }: ScheduledChunk): Draw | undefined {
    const samples = sequence.computed + tokens.length >= sequence.total;
    const shared = this.waitingChoices(sequence).length > 0;
    if (!samples || shared || sequence.constraint || sequence.topLogprobs !== undefined) return undefined;
    return sequence.sampler.engineDraw();
  }

  /**
   * Decodes first (one token each), then seats for newcomers (a request's choices at once) while
   * seats, blocks and budget last, then the rest of the budget shared between the tenants'
   * prefills (fair-share.ts).
   */
  private schedule(): ScheduledChunk[] {
    const batch: ScheduledChunk[] = [];
    for (const sequence of [...this.running]) {
      if (sequence.prefilling || sequence.awaitsFork || sequence.deferred || !this.running.includes(sequence)) continue;
      if (this.grow(sequence, sequence.computed + 1, batch)) batch.push({ sequence, tokens: sequence.pending(1) });
    }
    const budget = () => this.config.stepTokens - batch.reduce((sum, chunk) => sum + chunk.tokens.length, 0);
    while (budget() > 0 && this.admitNext(batch));
    const prefilling = this.running.filter((sequence) => sequence.prefilling && !sequence.awaitsFork);
    for (const [sequence, count] of splitPrefillBudget(prefilling, budget(), this.turn++)) {
      if (!this.running.includes(sequence)) continue;
      const tokens = sequence.pending(count);
      if (this.grow(sequence, sequence.computed + tokens.length, batch)) batch.push({ sequence, tokens });
    }
    return batch;
  }

  /**
   * Seats the waiting request of the tenant holding the fewest seats, its prompt's blocks taken
   * (less what the prefix cache holds). With no seat free, a tenant holding more seats than this
   * one will gives one up (preempted, its chunk taken out of the step), so a tenant's first token
   * never waits for another's backlog. False when nothing more can be seated.
   */
  private admitNext(batch: ScheduledChunk[]): boolean {
    const seats = seatsByTenant(this.running);
    const next = nextWaiting(this.waiting, seats);
    if (next < 0) return false;
    const choices = this.waiting[next];
    const [first, ...others] = choices;
    if (this.freeSeats() < choices.length) {
      const donor = seatDonor(this.running, seats, first.tenant, choices.length);
      if (donor === undefined) return false;
      const chunk = batch.findIndex(({ sequence }) => sequence === donor);
      if (chunk >= 0) batch.splice(chunk, 1);
      this.preempt(donor);
      return true;
    }
    const prefix = first.computed === 0 ? this.kv.lookup(first.tokens(), first.blocks.root) : [];
    if (!this.kv.allocate(first.blocks, first.total, prefix)) return false;
    this.waiting.splice(next, 1);
    const hit = prefix.length * this.kv.blockSize;
    if (first.generated.length === 0) {
      this.kv.recordLookup(first.prompt.length, hit);
      this.prefilledTokens += hit;
      for (const choice of choices) choice.cachedTokens = hit;
    }
    first.computed = hit;
    this.running.push(...choices);
    for (const other of others) other.forkOf = first;
    return true;
  }

  /**
   * Makes the sequence's blocks hold `length` positions, preempting the latest admitted sequences
   * not yet in this step's batch while blocks are short; false when the sequence itself had to go.
   */
  private grow(sequence: Sequence, length: number, batch: ScheduledChunk[]): boolean {
    while (!this.kv.allocate(sequence.blocks, length)) {
      const victim = this.running.findLast(
        (other) => other === sequence || !batch.some((chunk) => chunk.sequence === other),
      )!;
      this.preempt(victim);
      if (victim === sequence) return false;
    }
    return true;
  }

  /** Sends a running sequence back to the head of the queue, to be recomputed (from the prefix cache where it still holds). */
  private preempt(sequence: Sequence): void {
    this.running.splice(this.running.indexOf(sequence), 1);
    this.kv.free(sequence.blocks);
    sequence.computed = 0;
    // Recomputing gives its logits again.
    sequence.deferred = undefined;
    for (const fork of this.running) if (fork.forkOf === sequence) fork.forkOf = undefined;
    sequence.forkOf = undefined;
    this.waiting.unshift([sequence]);
    this.preemptions++;
  }

  /**
   * One engine call for the whole batch. If it throws, each chunk is retried alone (writing a
   * chunk's keys and values again is harmless), so a request that breaks the engine fails by
   * itself and the others go on.
   */
  private async forward(batch: ScheduledChunk[]): Promise<ChunkResult[]> {
    const chunks: SequenceChunk[] = batch.map(({ sequence, tokens, draw }) => ({
      blocks: sequence.blocks.blocks,
      past: sequence.computed,
      tokens,
      draw,
    }));
    try {
      return await this.engine.forward(chunks);
    } catch (error) {
      if (batch.length === 1) {
        batch[0].sequence.error = (error as Error).message;
        return [undefined];
      }
      const rows: ChunkResult[] = [];
      for (const chunk of batch) rows.push(...(await this.forward([chunk])));
      return rows;
    }
  }

  /** A request's other choices, still waiting for `sequence`'s prefill and its logits. */
  private waitingChoices(sequence: Sequence): Sequence[] {
    return this.running.filter((other) => other.forkOf === sequence && other.finish === undefined);
  }

  /**
   * The choices waiting for `sequence`'s prefill: they share its full blocks and get a copy of its
   * partial last block. One that finds no free block for the copy prefills itself instead.
   */
  private fork(sequence: Sequence): Sequence[] {
    const { blockSize } = this.kv;
    const full = Math.floor(sequence.computed / blockSize);
    return this.waitingChoices(sequence).filter((fork) => {
      fork.forkOf = undefined;
      this.kv.share(fork.blocks, sequence.blocks, full);
      if (sequence.computed % blockSize !== 0) {
        if (!this.kv.allocate(fork.blocks, sequence.computed)) {
          this.kv.free(fork.blocks);
          return false;
        }
        this.engine.copyBlock(sequence.blocks.blocks[full], fork.blocks.blocks[full]);
      }
      fork.computed = sequence.computed;
      return true;
    });
  }

  /**
   * Takes the engine's drawn token, or masks the logits if the sequence is constrained (on a copy:
   * n choices share one row), samples (with the uniform number of the draw it planned, if any), reports logprobs.
   * A constrained sequence whose mask is not there yet keeps a copy of its logits for a later step
   * (undefined), so a grammar thread busy compiling holds up only its own sequences, not the batch.
   */
  private async sample(
    sequence: Sequence,
    row: Float32Array | number,
    draw: Draw | undefined,
  ): Promise<StepOutput | undefined> {
    if (typeof row === "number") {
      sequence.sampler.record(row);
      return this.advance(sequence, row);
    }
    const logits = row;
    try {
      const allowed = sequence.constraint && (await this.mask(sequence.constraint));
      if (allowed === NOT_THERE) {
        sequence.deferred = { logits: sequence.deferred?.logits === logits ? logits : Float32Array.from(logits), draw };
        return undefined;
      }
      sequence.deferred = undefined;
      const token = sequence.sampler.sample(allowed ? maskLogits(logits, allowed) : logits, draw);
      sequence.constraint?.accept(token);
      const logprobs =
        sequence.topLogprobs === undefined ? undefined : tokenLogprobs(logits, token, sequence.topLogprobs);
      return { ...this.advance(sequence, token), logprobs };
    } catch (error) {
      return this.fail(sequence, (error as Error).message);
    }
  }

  private advance(sequence: Sequence, token: number): StepOutput {
    sequence.generated.push(token);
    const { eosTokenId, contextLength } = this.engine.shape;
    if (token === eosTokenId) sequence.finish = "stop";
    else if (sequence.maxTokens !== undefined && sequence.generated.length >= sequence.maxTokens)
      sequence.finish = "length";
    else if (sequence.total >= contextLength) sequence.finish = "model_length";
    return { sequence, token, finish: sequence.finish };
  }

  private fail(sequence: Sequence, message: string): StepOutput {
    sequence.finish = "error";
    sequence.error = message;
    return { sequence, token: undefined, finish: "error" };
  }

  /** Frees the blocks of finished sequences (their full blocks stay in the prefix cache). */
  private reap(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const sequence = this.running[i];
      if (sequence.finish === undefined) continue;
      this.running.splice(i, 1);
      this.kv.free(sequence.blocks);
    }
  }
}
