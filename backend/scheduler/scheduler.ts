import type { LoadReport } from "../../protocol/health.ts";
import type { Draw, ModelShape } from "../engine/engine.ts";
import { RequestError } from "../request-error.ts";
import type { TokenLogprobs } from "../sampler/logprobs.ts";
import { nextWaiting, seatDonor, seatsByTenant, splitPrefillBudget } from "./fair-share.ts";
import { KvCacheManager } from "./kv-cache-manager.ts";
import type { ModelRunnerOutput, Sampled } from "./model-runner-output.ts";
import { epochMs, type RequestTimeline } from "./request-timeline.ts";
import type { BlockCopy, ScheduledChunk, SchedulerOutput } from "./scheduler-output.ts";
import { Sequence, type FinishReason, type RequestSpec } from "./sequence.ts";

/** What the scheduler knows of the model: its KV pool's blocks, and when a sequence must end. */
export type SchedulerShape = Pick<ModelShape, "kvBlocks" | "blockSize" | "eosTokenId" | "contextLength">;

export interface SchedulerConfig {
  /** Sequences running at once (vLLM's max_num_seqs). */
  maxRunning: number;
  /** Sequences allowed to wait for a seat; beyond it `add` refuses the request (queue_full). */
  maxWaiting: number;
  /** Tokens one step may feed: decodes first, then prefill chunks of newcomers share the rest. */
  stepTokens: number;
  /** Keep finished sequences' full KV blocks for later requests with the same prefix (vLLM's automatic prefix caching). */
  prefixCaching: boolean;
}

/** What a step did to one sequence: a new token, a finish, or both. */
export interface StepOutput {
  sequence: Sequence;
  token: number | undefined;
  finish: FinishReason | undefined;
  /** The token's log-probability and alternatives, when the request asked for them. */
  logprobs?: TokenLogprobs;
}

/** The scheduler's part of the load report: all of it but the throughput, the grammar state and the engine's counts. */
export type SchedulerStats = Omit<
  LoadReport,
  "tokens_per_second" | "grammar_ok" | "uploaded_bytes" | "downloaded_bytes" | "steps_gathered" | "steps_read_in_place"
>;

/**
 * Continuous batching in vLLM v1's manner: a step feeds one decode token for every running
 * sequence plus chunks of prompts (newcomers join while the others decode, and a long prompt
 * is spread over several steps under the token budget), so sequences join and leave between
 * steps without waiting for a batch to drain.
 *
 * The scheduler plans and keeps the books; it never runs the model. A step (EngineCore.step) is
 * schedule() → the model runner executes the plan (forward, grammar masks, sampling) → update(),
 * which advances the sequences by what the runner returned and decides their finishes.
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
 * prefills, and in the step its prefill ends the others share its full blocks, get a copy of its
 * last partial block, and sample their first token from the same logits.
 */
export class Scheduler {
  /** Requests waiting for a seat and blocks, each as its choices. */
  private readonly waiting: Sequence[][] = [];
  /** In admission order: the last is the first preempted. */
  private readonly running: Sequence[] = [];
  private readonly kv: KvCacheManager;
  private prefilledTokens = 0;
  private preemptions = 0;
  /** Steps scheduled so far: which tenant's prefill goes first rotates with it. */
  private turn = 0;
  readonly slots: number;

  constructor(
    private readonly shape: SchedulerShape,
    private readonly config: SchedulerConfig,
  ) {
    this.slots = config.maxRunning;
    this.kv = new KvCacheManager(shape.kvBlocks, shape.blockSize, config.prefixCaching);
  }

  /**
   * Queues a request's choices, all or none. The bound counts the sequences that will still wait
   * once the next step has filled the free seats.
   */
  add(request: RequestSpec): Sequence[] {
    const n = request.choices.length;
    // Its n choices run together, so a request for more choices than seats could never start.
    if (n > this.slots)
      throw new RequestError(
        "too_many_choices",
        `n is ${n}, more choices than this backend's ${this.slots} sequence slots.`,
        "n",
      );
    if (this.waitingCount() + n > this.config.maxWaiting + this.freeSeats())
      throw new RequestError("queue_full", "The backend is overloaded: its request queue is full. Retry later.");
    const timeline: RequestTimeline = { queued: epochMs() };
    const sequences = request.choices.map((sampling) => new Sequence(request, sampling, timeline));
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
      free_kv_slots: this.freeSeats(),
      kv_slots: this.slots,
      kv_cache_blocks: this.kv.blocks,
      free_kv_cache_blocks: this.kv.freeBlocks,
      prefilled_tokens: this.prefilledTokens,
      prefix_cache_queries: this.kv.queries,
      prefix_cache_hits: this.kv.hits,
      preemptions: this.preemptions,
    };
  }

  /** The running sequences whose logits wait for their grammar mask (Sequence.deferred). */
  deferred(): Sequence[] {
    return this.running.filter((sequence) => sequence.deferred && sequence.finish === undefined);
  }

  /**
   * A step's first plan: no forward, only the logits that waited for a grammar mask, sampled again
   * before schedule(), since a sequence that gets its token now decodes in the same step.
   */
  scheduleResumed(): SchedulerOutput {
    return { resumed: this.deferred(), chunks: [], copies: [] };
  }

  /**
   * Plans a step's forward: decodes first (one token each), then seats for newcomers (a request's
   * choices at once) while seats, blocks and budget last, then the rest of the budget shared
   * between the tenants' prefills (fair-share.ts); then the engine's draws, and the forks of the
   * prefills that end.
   */
  schedule(): SchedulerOutput {
    const chunks: ScheduledChunk[] = [];
    // A sequence that ended since the last step (aborted, or finished on a late mask's token) is not fed again.
    const live = (sequence: Sequence) => sequence.finish === undefined && this.running.includes(sequence);
    for (const sequence of [...this.running]) {
      if (sequence.prefilling || sequence.awaitsFork || sequence.deferred || !live(sequence)) continue;
      if (this.grow(sequence, sequence.computed + 1, chunks)) chunks.push(this.chunk(sequence, 1));
    }
    const budget = () => this.config.stepTokens - chunks.reduce((sum, chunk) => sum + chunk.tokens.length, 0);
    while (budget() > 0 && this.admitNext(chunks));
    const prefilling = this.running.filter((sequence) => sequence.prefilling && !sequence.awaitsFork && live(sequence));
    for (const [sequence, count] of splitPrefillBudget(prefilling, budget(), this.turn++)) {
      if (!live(sequence)) continue;
      const chunk = this.chunk(sequence, count);
      if (this.grow(sequence, sequence.computed + chunk.tokens.length, chunks)) chunks.push(chunk);
    }
    for (const chunk of chunks) chunk.draw = this.engineDraw(chunk);
    return { resumed: [], chunks, copies: chunks.flatMap((chunk) => this.fork(chunk)) };
  }

  /** The sequence's next `budget` pending tokens, as a chunk. */
  private chunk(sequence: Sequence, budget: number): ScheduledChunk {
    const tokens = sequence.pending(budget);
    return { sequence, tokens, samples: sequence.computed + tokens.length >= sequence.total, forks: [] };
  }

  /**
   * Lets the engine draw the chunk's next token when the step ends its prompt or decodes, and
   * nothing but the token is needed: no grammar, no logprobs, no choices waiting to share its logits.
   */
  private engineDraw({ sequence, samples }: ScheduledChunk): Draw | undefined {
    const shared = this.waitingChoices(sequence).length > 0;
    if (!samples || shared || sequence.constraint || sequence.topLogprobs !== undefined) return undefined;
    return sequence.sampler.engineDraw();
  }

  /**
   * Seats the waiting request of the tenant holding the fewest seats, its prompt's blocks taken
   * (less what the prefix cache holds). With no seat free, a tenant holding more seats than this
   * one will gives one up (preempted, its chunk taken out of the step), so a tenant's first token
   * never waits for another's backlog. False when nothing more can be seated.
   */
  private admitNext(chunks: ScheduledChunk[]): boolean {
    const seats = seatsByTenant(this.running);
    const next = nextWaiting(this.waiting, seats);
    if (next < 0) return false;
    const choices = this.waiting[next];
    const [first, ...others] = choices;
    if (this.freeSeats() < choices.length) {
      const donor = seatDonor(this.running, seats, first.tenant, choices.length);
      if (donor === undefined) return false;
      const chunk = chunks.findIndex(({ sequence }) => sequence === donor);
      if (chunk >= 0) chunks.splice(chunk, 1);
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
    first.timeline.scheduled ??= epochMs();
    this.running.push(...choices);
    for (const other of others) other.forkOf = first;
    return true;
  }

  /**
   * Makes the sequence's blocks hold `length` positions, preempting the latest admitted sequences
   * not yet in this step's chunks while blocks are short; false when the sequence itself had to go.
   */
  private grow(sequence: Sequence, length: number, chunks: ScheduledChunk[]): boolean {
    while (!this.kv.allocate(sequence.blocks, length)) {
      const victim = this.running.findLast(
        (other) => other === sequence || !chunks.some((chunk) => chunk.sequence === other),
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

  /** A request's other choices, still waiting for `sequence`'s prefill and its logits. */
  private waitingChoices(sequence: Sequence): Sequence[] {
    return this.running.filter((other) => other.forkOf === sequence && other.finish === undefined);
  }

  /**
   * When the chunk ends the prefill of a request's first choice, the choices waiting for it become
   * its forks: they share its full blocks and get a copy of its partial last block (returned: the
   * runner makes it once the forward has written the block). One that finds no free block for the
   * copy prefills itself instead. update() takes the forks back if the chunk comes to nothing.
   */
  private fork(chunk: ScheduledChunk): BlockCopy[] {
    const { sequence } = chunk;
    if (!chunk.samples || sequence.generated.length > 0) return [];
    const { blockSize } = this.kv;
    const computed = sequence.computed + chunk.tokens.length;
    const full = Math.floor(computed / blockSize);
    const copies: BlockCopy[] = [];
    for (const fork of this.waitingChoices(sequence)) {
      fork.forkOf = undefined;
      this.kv.share(fork.blocks, sequence.blocks, full);
      if (computed % blockSize !== 0) {
        if (!this.kv.allocate(fork.blocks, computed)) {
          this.kv.free(fork.blocks);
          continue;
        }
        copies.push({ from: sequence.blocks.blocks[full], to: fork.blocks.blocks[full] });
      }
      fork.computed = computed;
      chunk.forks.push(fork);
    }
    return copies;
  }

  /**
   * Advances the sequences by what the runner made of the plan (vLLM's update_from_output): the
   * positions computed, their full blocks committed to the prefix cache, the sampled tokens and the
   * finishes they bring. A chunk the engine failed fails its sequence alone; one that came to
   * nothing leaves its forks to prefill themselves.
   */
  update(plan: SchedulerOutput, output: ModelRunnerOutput): StepOutput[] {
    const outputs: StepOutput[] = [];
    const record = (sequence: Sequence) => {
      const step = this.record(sequence, output.sampled.get(sequence));
      if (step) outputs.push(step);
    };
    plan.resumed.forEach(record);
    for (const [i, chunk] of plan.chunks.entries()) {
      const result = output.chunks[i];
      if (result === "ran") {
        this.commit(chunk);
        [chunk.sequence, ...chunk.forks].forEach(record);
        continue;
      }
      this.unfork(chunk);
      if (result !== "skipped") outputs.push(this.fail(chunk.sequence, result.error));
    }
    return outputs;
  }

  /** Counts the chunk's positions as computed (its prompt tokens as prefilled), and its full blocks into the prefix cache. */
  private commit({ sequence, tokens }: ScheduledChunk): void {
    this.prefilledTokens += Math.max(
      0,
      Math.min(sequence.prompt.length, sequence.computed + tokens.length) - sequence.computed,
    );
    sequence.computed += tokens.length;
    this.kv.commit(sequence.blocks, (from, to) => sequence.tokens(from, to), sequence.computed);
  }

  /** The forks of a chunk that came to nothing lose the blocks they shared: they prefill themselves. */
  private unfork({ forks }: ScheduledChunk): void {
    for (const fork of forks) {
      this.kv.free(fork.blocks);
      fork.computed = 0;
    }
  }

  /** Records what the sequence sampled, if anything: its token and the finish it brings, or its failure. */
  private record(sequence: Sequence, sampled: Sampled | undefined): StepOutput | undefined {
    if (sampled === undefined) return undefined;
    if ("error" in sampled) return this.fail(sequence, sampled.error);
    return { ...this.advance(sequence, sampled.token), logprobs: sampled.logprobs };
  }

  private advance(sequence: Sequence, token: number): StepOutput {
    sequence.generated.push(token);
    sequence.timeline.firstToken ??= epochMs();
    const { eosTokenId, contextLength } = this.shape;
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

  /**
   * Frees the blocks of finished sequences (their full blocks stay in the prefix cache): at the
   * start of a step (aborted since the last) and at its end.
   */
  freeFinished(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const sequence = this.running[i];
      if (sequence.finish === undefined) continue;
      this.running.splice(i, 1);
      this.kv.free(sequence.blocks);
    }
  }
}
