/**
 * Quality of weight-only quantisation against fp32 on one checkpoint: top-1 agreement and mean
 * KL(fp32 ‖ quantised) over every position of a few token sequences.
 *   npx tsx bench/engine-quality.ts --model DIR [--threads 2] [--tokens 64] [--groups 32,128]
 */
import { parseScriptArgs } from "../cli/command.ts";
import { engineOptions, quantGroupSizeOf } from "../cli/model-options.ts";
import type { QuantGroupSize } from "../gpu-backend/engine/graph/quantize.ts";
import { loadEngine } from "../gpu-backend/engine/load-engine.ts";
import { compareLogits } from "../gpu-backend/engine/quality.ts";

const values = parseScriptArgs({
  name: "bench/engine-quality.ts",
  summary: "top-1 agreement and mean KL of int8 and int4 against fp32",
  options: {
    model: engineOptions.model,
    threads: { ...engineOptions.threads, default: "2", description: "ONNX Runtime intra-op threads" },
    tokens: { type: "integer", min: 2, default: "64", description: "tokens per sequence" },
    groups: { type: "string", default: "32", description: "quantisation group sizes to measure, comma-separated" },
  },
});
const groups = values.groups.split(",").map(quantGroupSizeOf);
const length = values.tokens;

const logitsOf = async (quantize?: "int8" | "int4", quantGroupSize?: QuantGroupSize) => {
  const engine = await loadEngine({
    model: values.model,
    quantize,
    quantGroupSize,
    threads: values.threads,
    kvCacheSequences: 1,
    contextLength: length,
  });
  const vocab = engine.shape.vocabSize;
  // Three sequences of ids spread over the vocabulary (speed and quality do not depend on a tokenizer here).
  const sequences = [1, 2, 3].map((seed) => [
    1,
    ...Array.from({ length: length - 1 }, (_, i) => 1 + (((i + 1) * 7919 * seed) % (vocab - 1))),
  ]);
  const evaluations = await engine.evaluate(sequences);
  await engine.close();
  return { vocab, logits: Float32Array.from(evaluations.flatMap((evaluation) => Array.from(evaluation.logits))) };
};

const reference = await logitsOf();
for (const quantize of ["int8", "int4"] as const)
  for (const group of groups) {
    const candidate = await logitsOf(quantize, group);
    const quality = compareLogits(reference.logits, candidate.logits, reference.vocab);
    console.log(
      JSON.stringify({
        model: values.model,
        quantize,
        quant_group_size: group,
        positions: reference.logits.length / reference.vocab,
        top1_agreement: quality.top1Agreement,
        mean_kl: quality.meanKl,
      }),
    );
  }
