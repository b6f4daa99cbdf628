import type { OnnxEngine } from "../gpu-backend/engine/onnx-engine.ts";

export interface EngineBenchOptions {
  batches: number[];
  prompt: number;
  gen: number;
}

export interface EngineBenchResult {
  prefill_tok_s: number;
  decode_tok_s: Record<string, number>;
}

/** Token ids spread over the vocabulary without a PRNG; speed does not depend on which ids. */
const syntheticTokens = (count: number, vocab: number, offset = 0) => Array.from({ length: count }, (_, i) => 1 + ((i * 7919 + offset * 104729) % (vocab - 1)));

/**
 * llama-bench's two figures on our engine: prefill = one prompt of `prompt` tokens in one step
 * (pp512, best of two), decode = `gen` steps of one token for each of `batch` sequences started
 * from BOS (tg128). Decode speed comes from the median step time: other jobs share this machine's
 * two cores, and the median ignores the steps they stall.
 */
export async function benchEngine(engine: OnnxEngine, options: EngineBenchOptions): Promise<EngineBenchResult> {
  const vocab = engine.shape.vocabSize;
  const releaseAll = () => {
    for (let slot = 0; slot < engine.shape.slots; slot++) engine.release(slot);
  };
  await engine.forward([{ slot: 0, tokens: syntheticTokens(16, vocab) }]); // warm-up: first-run allocations
  releaseAll();
  let prefillMs = Infinity;
  for (let round = 0; round < 2; round++) {
    releaseAll();
    const started = performance.now();
    await engine.forward([{ slot: 0, tokens: syntheticTokens(options.prompt, vocab, round) }]);
    prefillMs = Math.min(prefillMs, performance.now() - started);
  }
  const decode: Record<string, number> = {};
  for (const batch of options.batches) {
    releaseAll();
    const slots = Array.from({ length: batch }, (_, slot) => slot);
    await engine.forward(slots.map((slot) => ({ slot, tokens: [engine.shape.bosTokenId] })));
    const stepMs: number[] = [];
    for (let step = 0; step < options.gen; step++) {
      const started = performance.now();
      await engine.forward(slots.map((slot) => ({ slot, tokens: syntheticTokens(1, vocab, step * batch + slot) })));
      stepMs.push(performance.now() - started);
    }
    decode[String(batch)] = batch / (stepMs.sort((a, b) => a - b)[stepMs.length >> 1] / 1000);
  }
  releaseAll();
  return { prefill_tok_s: options.prompt / (prefillMs / 1000), decode_tok_s: decode };
}
