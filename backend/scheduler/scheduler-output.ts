import type { Draw } from "../engine/engine.ts";
import type { Sequence } from "./sequence.ts";

/** One sequence's part of a step's forward: a prompt chunk (prefill) or its last sampled token (decode). */
export interface ScheduledChunk {
  sequence: Sequence;
  /** Fed this step: part of the prompt, the last sampled token, or after a preemption what must be recomputed. */
  tokens: number[];
  /** The chunk ends what the sequence must feed: its logits give the sequence's next token. */
  samples: boolean;
  /** The request's other choices that share this chunk's prefill and sample their first token from its logits. */
  forks: Sequence[];
  /** Set when the engine draws the sequence's next token itself (see Scheduler.engineDraw). */
  draw?: Draw;
}

/** A fork's copy of its source's partial last block: made after the forward that writes the block, before the fork's own next one. */
export interface BlockCopy {
  from: number;
  to: number;
}

/**
 * What the scheduler decided for one step (vLLM's SchedulerOutput): what the model runner runs
 * and samples. The scheduler never runs the model; update() takes the runner's output back.
 */
export interface SchedulerOutput {
  /** Sequences whose logits waited for a grammar mask (Sequence.deferred): sampled again, without a forward. */
  resumed: Sequence[];
  /** The forward's chunks, one per sequence, in the engine's row order; empty: no forward. */
  chunks: ScheduledChunk[];
  copies: BlockCopy[];
}
