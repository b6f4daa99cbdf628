import type { ModelConfig } from "./checkpoint/config.ts";

/** Parameter counts from the config alone: all weights, and those one token actually uses (top-k of the experts). */
export function parameterCounts(config: ModelConfig): { total: number; active: number } {
  const {
    hiddenSize: h,
    ffnSize: f,
    heads,
    kvHeads,
    headDim: d,
    vocabSize: v,
    layers,
    experts,
    expertsPerToken,
  } = config;
  const attention = h * heads * d * 2 + h * kvHeads * d * 2 + 2 * h;
  const expert = 3 * h * f;
  const mlpTotal = experts > 0 ? experts * expert + experts * h : expert;
  const mlpActive = experts > 0 ? expertsPerToken * expert + experts * h : expert;
  const outside = v * h * (config.tiedEmbeddings ? 1 : 2) + h;
  return { total: outside + layers * (attention + mlpTotal), active: outside + layers * (attention + mlpActive) };
}

/** Bytes of weights per precision: int4/int8 are block-32 codes plus one fp32 scale per block. */
export function weightBytes(parameters: number): Record<"f32" | "bf16" | "int8" | "int4", number> {
  return {
    f32: parameters * 4,
    bf16: parameters * 2,
    int8: parameters * (1 + 4 / 32),
    int4: parameters * (0.5 + 4 / 32),
  };
}

/** Bytes of one position's keys and values over all layers, at each cache precision (fp32 is what the engine keeps). */
export function kvBytesPerToken(config: ModelConfig, bytesPerValue = 4): number {
  return 2 * config.layers * config.kvHeads * config.headDim * bytesPerValue;
}
