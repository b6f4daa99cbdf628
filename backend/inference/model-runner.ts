import type { Draw, Engine, SequenceChunk } from "../engine/engine.ts";
import { tokenLogprobs } from "../sampler/logprobs.ts";
import { maskLogits, type TokenConstraint } from "../sampler/token-constraint.ts";
import type { ChunkResult, ModelRunnerOutput, Sampled } from "../scheduler/model-runner-output.ts";
import type { ScheduledChunk, SchedulerOutput } from "../scheduler/scheduler-output.ts";
import type { Sequence } from "../scheduler/sequence.ts";

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

/** What the engine returned for a chunk: its logits, the token it drew, or why it failed. */
type Row = Float32Array | number | Error;

/**
 * Executes the scheduler's plans (vLLM's model runner): one engine forward for the step's chunks,
 * the forks' block copies, then for each row that gives a token the grammar mask, the sampler and
 * the logprobs. It keeps no books: Scheduler.update turns its output into the sequences' progress.
 */
export class ModelRunner {
  /** The deadline of the current step's mask waits, while one runs (see mask()). */
  private deadline: Promise<typeof NOT_THERE> | undefined;

  constructor(private readonly engine: Engine) {}

  async execute(plan: SchedulerOutput): Promise<ModelRunnerOutput> {
    const sampled = new Map<Sequence, Sampled>();
    for (const sequence of plan.resumed) {
      if (!sequence.deferred || sequence.finish !== undefined) continue;
      const { logits, draw } = sequence.deferred;
      await this.sample(sequence, logits, draw, sampled);
    }
    if (plan.chunks.length === 0) return { chunks: [], sampled };
    const rows = await this.forward(plan.chunks);
    for (const { from, to } of plan.copies) this.engine.copyBlock(from, to);
    const chunks: ChunkResult[] = [];
    for (const [i, chunk] of plan.chunks.entries()) chunks.push(await this.sampleChunk(chunk, rows[i], sampled));
    return { chunks, sampled };
  }

  /** Waits until the first of these sequences' late masks comes (or fails): nothing else is left to run. */
  async firstMask(deferred: Sequence[]): Promise<void> {
    await Promise.race(deferred.map((sequence) => sequence.constraint!.allowed().catch(() => {})));
  }

  /**
   * One engine call for the whole batch. If it throws, each chunk is retried alone (writing a
   * chunk's keys and values again is harmless), so a request that breaks the engine fails by
   * itself and the others go on.
   */
  private async forward(batch: ScheduledChunk[]): Promise<Row[]> {
    const chunks: SequenceChunk[] = batch.map(({ sequence, tokens, draw }) => ({
      blocks: sequence.blocks.blocks,
      past: sequence.computed,
      tokens,
      draw,
    }));
    try {
      return await this.engine.forward(chunks);
    } catch (error) {
      if (batch.length === 1) return [error as Error];
      const rows: Row[] = [];
      for (const chunk of batch) rows.push(...(await this.forward([chunk])));
      return rows;
    }
  }

  /**
   * Samples the chunk's row for its sequence, and for its forks (those not ended) if its prefill
   * ends; nothing of a chunk whose sequence has ended meanwhile is used.
   */
  private async sampleChunk(
    chunk: ScheduledChunk,
    row: Row | undefined,
    sampled: Map<Sequence, Sampled>,
  ): Promise<ChunkResult> {
    const { sequence, samples, draw } = chunk;
    if (sequence.finish !== undefined) return "skipped";
    if (row === undefined || row instanceof Error) return { error: row?.message ?? "inference failed" };
    if (!samples) return "ran";
    const forks = chunk.forks.filter((fork) => fork.finish === undefined);
    await this.sample(sequence, row, draw, sampled);
    for (const fork of forks) await this.sample(fork, row, undefined, sampled);
    return "ran";
  }

  /** The sequence's mask, or NOT_THERE if it is not there by this step's deadline. */
  private mask(constraint: TokenConstraint): Promise<MaybeMask> {
    this.deadline ??= maskDeadline().finally(() => (this.deadline = undefined));
    return Promise.race([constraint.allowed(), this.deadline]);
  }

  /**
   * Takes the engine's drawn token, or masks the logits if the sequence is constrained (on a copy:
   * n choices share one row), samples (with the uniform number of the draw it planned, if any), reports logprobs.
   * A constrained sequence whose mask is not there yet keeps a copy of its logits for a later step
   * (Sequence.deferred) and samples nothing, so a grammar thread busy compiling holds up only its
   * own sequences, not the batch.
   */
  private async sample(
    sequence: Sequence,
    row: Float32Array | number,
    draw: Draw | undefined,
    sampled: Map<Sequence, Sampled>,
  ): Promise<void> {
    if (typeof row === "number") {
      sequence.sampler.record(row);
      sampled.set(sequence, { token: row, logprobs: undefined });
      return;
    }
    const logits = row;
    try {
      const allowed = sequence.constraint && (await this.mask(sequence.constraint));
      if (allowed === NOT_THERE) {
        sequence.deferred = { logits: sequence.deferred?.logits === logits ? logits : Float32Array.from(logits), draw };
        return;
      }
      sequence.deferred = undefined;
      const token = sequence.sampler.sample(allowed ? maskLogits(logits, allowed) : logits, draw);
      sequence.constraint?.accept(token);
      const logprobs =
        sequence.topLogprobs === undefined ? undefined : tokenLogprobs(logits, token, sequence.topLogprobs);
      sampled.set(sequence, { token, logprobs });
    } catch (error) {
      sampled.set(sequence, { error: (error as Error).message });
    }
  }
}
