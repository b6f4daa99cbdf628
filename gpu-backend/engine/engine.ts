/**
 * The engine's interface to the scheduler (vLLM v1 style: the scheduler decides what runs,
 * the engine only runs it). A slot is one sequence's preallocated KV cache; the engine
 * remembers how many tokens each slot holds, and new tokens are appended after them.
 */
export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  /** Longest sequence one slot can hold (prompt + generated). */
  contextLength: number;
  /** KV-cache slots, i.e. sequences that can be in flight at once. */
  slots: number;
  bosTokenId: number;
  eosTokenId: number;
}

/** Tokens to append to one slot in this step: a whole or partial prompt (prefill), or one token (decode). */
export interface SlotChunk {
  slot: number;
  tokens: number[];
}

export type Pooling = "mean" | "last";

export interface Engine {
  readonly shape: ModelShape;
  /** Runs every chunk in one step (prefill and decode mixed) and returns each chunk's last-position logits. */
  forward(chunks: SlotChunk[]): Promise<Float32Array[]>;
  /** Forgets a slot's cached tokens so the slot can take a new sequence. */
  release(slot: number): void;
  /**
   * Between steps, makes slot `to` hold a copy of slot `from`'s cached tokens (only the used
   * prefix is copied), so sequences that share a prompt prefill it once (a request's n choices).
   */
  copySlot(from: number, to: number): void;
  /** Tokens cached in a slot. */
  length(slot: number): number;
  /** Pooled, L2-normalised final hidden states, one per sequence; uses no slot. */
  embed(sequences: number[][], pooling: Pooling): Promise<Float32Array[]>;
  close(): Promise<void>;
}
