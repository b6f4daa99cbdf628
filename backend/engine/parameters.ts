import type { ModelConfig } from "./checkpoint/config.ts";
import type { Quantization } from "../options.ts";
import { quantGroupSizeFor } from "./graph/quantize.ts";

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

/** Bytes of weights per precision: int4/int8 are codes plus one fp32 scale per group of their default size. */
export function weightBytes(parameters: number): Record<"f32" | "bf16" | "int8" | "int4", number> {
  const quantized = (quantize: Quantization, bytes: number) => parameters * (bytes + 4 / quantGroupSizeFor(quantize));
  return { f32: parameters * 4, bf16: parameters * 2, int8: quantized("int8", 1), int4: quantized("int4", 0.5) };
}

/** Bytes of one position's keys and values over all layers, at `bytesPerValue` (4: float32, 2: float16). */
export function kvBytesPerToken(config: ModelConfig, bytesPerValue: number): number {
  return 2 * config.layers * config.kvHeads * config.headDim * bytesPerValue;
}
