import type { TokenLogprobs } from "../sampler/logprobs.ts";
import type { Sequence } from "./sequence.ts";

/** What sampling made of one sequence's logits: its next token, or a failure (of its grammar, say). */
export type Sampled = { token: number; logprobs: TokenLogprobs | undefined } | { error: string };

/**
 * What became of one scheduled chunk: run; skipped, as its sequence had ended (been aborted) by the
 * time its logits came, so nothing of it is used; or failed by the engine.
 */
export type ChunkResult = "ran" | "skipped" | { error: string };

/** What the model runner made of a SchedulerOutput (vLLM's ModelRunnerOutput), for Scheduler.update. */
export interface ModelRunnerOutput {
  /** One per chunk of the plan, in its order. */
  chunks: ChunkResult[];
  /**
   * Each sequence that sampled, in the order it did. One that is absent sampled nothing: its chunk
   * is mid-prompt or was not run, or its grammar mask is late (it waits in Sequence.deferred).
   */
  sampled: Map<Sequence, Sampled>;
}
