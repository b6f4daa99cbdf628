import { reservedBlocks } from "../backend/engine/engine.ts";
import type { OnnxEngine } from "../backend/engine/onnx-engine.ts";

export interface EngineBenchOptions {
  batches: number[];
  prompt: number;
  gen: number;
  /** Cached tokens each sequence holds before decoding (llama-batched-bench's -npp). */
  depth: number;
}

export interface EngineBenchResult {
  prefill_tok_s: number;
  /** Generated tokens ÷ wall time of the decode steps, as llama-bench and llama-batched-bench report. */
  decode_tok_s: Record<string, number>;
  /** From the median step time (ignores steps that other jobs stall). */
  decode_median_step_tok_s: Record<string, number>;
  /** Bytes fed and fetched in the last decode step (the KV pool, read and written in place, not counted): host↔device traffic on a GPU. */
  decode_step_bytes: Record<string, { uploaded: number; downloaded: number }>;
  /** Whether the last decode step attended to a window of the KV pool where it lies rather than gathering blocks (inPlaceWindow). */
  decode_reads_in_place: Record<string, boolean>;
}

/** Token ids spread over the vocabulary without a PRNG; speed does not depend on which ids. */
export const syntheticTokens = (count: number, vocab: number, offset = 0) =>
  Array.from({ length: count }, (_, i) => 1 + ((i * 7919 + offset * 104729) % (vocab - 1)));

/**
 * llama-bench's two figures on our engine: prefill = one prompt of `prompt` tokens in one step
 * (pp512, best of two), decode = `gen` steps of one token for each of `batch` sequences, each
 * started from BOS plus `depth` cached tokens (tg128; with depth, llama-batched-bench's S_TG).
 * The engine runs the fixed sequences on reserved blocks, without the scheduler.
 */
export async function benchEngine(engine: OnnxEngine, options: EngineBenchOptions): Promise<EngineBenchResult> {
  const vocab = engine.shape.vocabSize;
  const blocks = (sequence: number) => reservedBlocks(engine.shape, sequence);
  await engine.forward([{ blocks: blocks(0), past: 0, tokens: syntheticTokens(16, vocab) }]); // warm-up: first-run allocations
  let prefillMs = Infinity;
  for (let round = 0; round < 2; round++) {
    const started = performance.now();
    await engine.forward([{ blocks: blocks(0), past: 0, tokens: syntheticTokens(options.prompt, vocab, round) }]);
    prefillMs = Math.min(prefillMs, performance.now() - started);
  }
  const decode: Record<string, number> = {};
  const median: Record<string, number> = {};
  const bytes: EngineBenchResult["decode_step_bytes"] = {};
  const inPlace: EngineBenchResult["decode_reads_in_place"] = {};
  for (const batch of options.batches) {
    const sequences = Array.from({ length: batch }, (_, sequence) => sequence);
    const start = [engine.shape.bosTokenId, ...syntheticTokens(options.depth, vocab, 7)];
    for (const sequence of sequences) await engine.forward([{ blocks: blocks(sequence), past: 0, tokens: start }]);
    const stepMs: number[] = [];
    const started = performance.now();
    for (let step = 0; step < options.gen; step++) {
      const stepStarted = performance.now();
      await engine.forward(
        sequences.map((sequence) => ({
          blocks: blocks(sequence),
          past: start.length + step,
          tokens: syntheticTokens(1, vocab, step * batch + sequence),
        })),
      );
      stepMs.push(performance.now() - stepStarted);
    }
    decode[String(batch)] = (batch * options.gen) / ((performance.now() - started) / 1000);
    median[String(batch)] = batch / (stepMs.sort((a, b) => a - b)[stepMs.length >> 1] / 1000);
    const { uploaded, downloaded } = engine.lastStepTransfers;
    bytes[String(batch)] = { uploaded, downloaded };
    inPlace[String(batch)] = engine.lastStepReadInPlace;
  }
  return {
    prefill_tok_s: options.prompt / (prefillMs / 1000),
    decode_tok_s: decode,
    decode_median_step_tok_s: median,
    decode_step_bytes: bytes,
    decode_reads_in_place: inPlace,
  };
}
