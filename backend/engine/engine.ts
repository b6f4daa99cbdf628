import type { Pooling } from "../options.ts";

/**
 * The engine's interface to the scheduler (vLLM v1 style: the scheduler decides what runs,
 * the engine only runs it). Keys and values live in a pool of fixed-size blocks; the scheduler's
 * KV-cache manager hands each sequence a block table, and every step names, per sequence, the
 * blocks that hold its positions. The engine keeps no per-sequence state.
 */
export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  /** Longest sequence served (prompt + generated). */
  contextLength: number;
  /**
   * Longest sequence evaluated whole, without the cache (embeddings, scoring): that pass holds
   * heads × n² attention scores at once, so it stops at 4096 tokens (2 GiB with 32 heads).
   */
  maxEvaluationTokens: number;
  /** Positions per KV block. */
  blockSize: number;
  /** Blocks in the KV pool. */
  kvBlocks: number;
  /** Bytes of one position's keys and values over all layers. */
  kvBytesPerToken: number;
  bosTokenId: number;
  eosTokenId: number;
}

/** Tokens appended to one sequence in this step: a whole or partial prompt (prefill), or one token (decode). */
export interface SequenceChunk {
  /** Pool blocks holding positions [0, past + tokens.length) in order: position p is in blocks[p / blockSize]. */
  blocks: number[];
  /** Positions already cached in those blocks. */
  past: number;
  tokens: number[];
  /** Draw the next token inside the engine and return it instead of the logits. */
  draw?: Draw;
}

/**
 * A draw from the last position's logits that the engine makes itself, for a sequence that needs
 * nothing else from them (no top_p, penalties, grammar or logprobs): inverse-CDF sampling of
 * softmax(logits / temperature) at `uniform`, or the argmax when the temperature is 0.
 */
export interface Draw {
  temperature: number;
  /** In [0, 1). */
  uniform: number;
}

/** A chunk whose logits the caller wants back (OnnxEngine's forward then returns only logits). */
export type LogitsChunk = SequenceChunk & { draw?: undefined };

/** Bytes fed to and fetched from the session, the KV pool (read and written in place) not counted: on a device EP, what crosses between host and device. */
export interface Transfers {
  uploaded: number;
  downloaded: number;
}

/** Steps since the start by how attention read the KV cache (README: How attention reads the cache). */
export interface AttentionReads {
  gathered: number;
  inPlace: number;
}

export interface Engine {
  readonly shape: ModelShape;
  /** Totals since the start. */
  readonly transfers: Transfers;
  readonly attentionReads: AttentionReads;
  /** Why the device failed (lost, out of memory), once it has: every later run fails with it. */
  readonly fault?: string;
  /**
   * Runs every chunk in one step (prefill and decode mixed), writes the new keys and values into
   * their blocks, and returns each chunk's last-position logits, or the token drawn for a chunk
   * that asked for a draw. Writing is idempotent, so a failed step can be rerun.
   */
  forward(chunks: SequenceChunk[]): Promise<(Float32Array | number)[]>;
  /** Between steps, copies one block's keys and values (every layer) into another. */
  copyBlock(from: number, to: number): void;
  /** Pooled, L2-normalised final hidden states, one per sequence; uses no KV blocks. */
  embed(sequences: number[][], pooling: Pooling): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/**
 * The block table that gives sequence `index` its own run of full-context blocks, for callers that
 * run a fixed set of sequences without the scheduler's KV-cache manager (one-shot commands, benchmarks).
 */
export function reservedBlocks(shape: ModelShape, index: number): number[] {
  const perSequence = Math.ceil(shape.contextLength / shape.blockSize);
  return Array.from({ length: perSequence }, (_, i) => index * perSequence + i);
}
