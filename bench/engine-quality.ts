/**
 * Quality of weight-only quantisation against fp32 on one checkpoint: top-1 agreement and mean
 * KL(fp32 ‖ quantised) per position.
 *   npx tsx bench/engine-quality.ts --model DIR [--quantize int4] [--threads 2] [--tokens 64] [--groups 32,128] [--text FILE --chunks 16]
 * Without --text: every position of three synthetic sequences of --tokens ids. With --text: the
 * protocol of `llama-perplexity --kl-divergence`, so the figure compares with llama.cpp's on the
 * same text: --chunks windows of --tokens tokens of the file, each starting with BOS, KL over the
 * second half of each window.
 */
import { readFileSync } from "node:fs";
import { parseScriptArgs } from "../cli/command.ts";
import { engineOptions, measurementOptions, quantGroupSizeOf } from "../cli/model-options.ts";
import { quantGroupSizeFor } from "../backend/engine/graph/quantize.ts";
import { Quantization, type QuantGroupSize } from "../backend/options.ts";
import { loadEngine } from "../backend/engine/load-engine.ts";
import { compareLogits } from "./quality.ts";
import { loadTokenizer } from "../backend/text/tokenizer.ts";

const values = parseScriptArgs({
  name: "bench/engine-quality.ts",
  summary: "top-1 agreement and mean KL of int8 and int4 against fp32",
  options: {
    model: engineOptions.model,
    threads: measurementOptions.threads,
    tokens: { type: "integer", min: 2, default: "64", description: "tokens per sequence" },
    quantize: { ...engineOptions.quantize, description: "measure only this precision (default: int8 and int4)" },
    groups: {
      type: "string",
      description: "quantisation group sizes to measure, comma-separated (default: each precision's own)",
    },
    text: {
      type: "string",
      placeholder: "FILE",
      description: "measure on windows of this text (llama-perplexity's protocol)",
    },
    chunks: { type: "integer", min: 1, default: "16", description: "windows of the text to measure" },
  },
});
const groups = values.groups?.split(",").map(quantGroupSizeOf) ?? [undefined];
const length = values.tokens;

/** The sequences to score and, per sequence, the range of positions whose logits count. */
async function sequencesToScore(vocab: number): Promise<{ sequences: number[][]; scored: [number, number] }> {
  if (values.text === undefined) {
    // Three sequences of ids spread over the vocabulary (speed and quality do not depend on a tokenizer here).
    const sequences = [1, 2, 3].map((seed) => [
      1,
      ...Array.from({ length: length - 1 }, (_, i) => 1 + (((i + 1) * 7919 * seed) % (vocab - 1))),
    ]);
    return { sequences, scored: [0, length] };
  }
  const tokenizer = await loadTokenizer(values.model);
  const ids = tokenizer.encode(readFileSync(values.text, "utf8"));
  if (ids.length < values.chunks * length)
    throw new Error(`${values.text} has ${ids.length} tokens, fewer than ${values.chunks} × ${length}`);
  // As llama-perplexity does: the text is [BOS, ...ids] cut into windows, each window's first token
  // replaced by BOS; the logits at positions length/2 … length-2 (each predicting a token of the window) are scored.
  const sequences = Array.from({ length: values.chunks }, (_, chunk) => [
    tokenizer.bosId!,
    ...ids.slice(chunk * length, (chunk + 1) * length - 1),
  ]);
  return { sequences, scored: [length >> 1, length - 1] };
}

/** Built (and the text tokenized) once: every engine scores the same sequences. */
let scoring: ReturnType<typeof sequencesToScore> | undefined;

const logitsOf = async (quantize?: Quantization, quantGroupSize?: QuantGroupSize) => {
  const engine = await loadEngine({
    model: values.model,
    quantize,
    quantGroupSize,
    threads: values.threads,
    kvCacheSequences: 1,
    contextLength: length,
  });
  const vocab = engine.shape.vocabSize;
  scoring ??= sequencesToScore(vocab);
  const { sequences, scored } = await scoring;
  const evaluations = await engine.evaluate(sequences);
  await engine.close();
  const [from, to] = scored;
  const logits = evaluations.flatMap((evaluation) => Array.from(evaluation.logits.subarray(from * vocab, to * vocab)));
  return { vocab, logits: Float32Array.from(logits) };
};

const reference = await logitsOf();
for (const quantize of values.quantize ? [values.quantize] : Quantization.options)
  for (const group of groups) {
    const candidate = await logitsOf(quantize, group);
    const quality = compareLogits(reference.logits, candidate.logits, reference.vocab);
    console.log(
      JSON.stringify({
        model: values.model,
        quantize,
        quant_group_size: quantGroupSizeFor(quantize, group),
        positions: reference.logits.length / reference.vocab,
        top1_agreement: quality.top1Agreement,
        mean_kl: quality.meanKl,
      }),
    );
  }
