import { loadEngine } from "../gpu-backend/engine/load-engine.ts";
import type { OnnxEngine } from "../gpu-backend/engine/onnx-engine.ts";
import { UsageError } from "./command.ts";

/** The flags every model command takes. */
export const modelOptions = {
  model: { type: "string", required: true, placeholder: "DIR", description: "Hugging Face checkpoint folder (config.json + safetensors)" },
  quantize: { type: "string", placeholder: "int8|int4", description: "weight-only quantisation of the linear layers (default: the checkpoint's weights in fp32)" },
  threads: { type: "string", placeholder: "N", description: "ONNX Runtime intra-op threads (default: all cores)" },
  "execution-provider": { type: "string", placeholder: "cpu|cuda", default: "cpu", description: "where ONNX Runtime runs the graph" },
  json: { type: "boolean", description: "one JSON object per line on stdout" },
} as const;

export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new UsageError(`--${flag} must be a positive integer, got '${value}'`);
  return parsed;
}

/** "1,415,2936" → [1, 415, 2936]. */
export function parseIds(value: string, flag = "ids"): number[] {
  const ids = value.split(",").map((part) => part.trim());
  if (ids.some((id) => !/^\d+$/.test(id))) throw new UsageError(`--${flag} must be comma-separated token ids, got '${value}'`);
  return ids.map(Number);
}

export async function engineFromOptions(
  values: { model: string; quantize?: string; threads?: string; "execution-provider": string },
  sizes: { slots?: number; contextLength?: number } = {},
): Promise<OnnxEngine> {
  const { quantize } = values;
  if (quantize !== undefined && quantize !== "int8" && quantize !== "int4") throw new UsageError(`--quantize must be int8 or int4, got '${quantize}'`);
  const executionProvider = values["execution-provider"];
  if (executionProvider !== "cpu" && executionProvider !== "cuda") throw new UsageError(`--execution-provider must be cpu or cuda, got '${executionProvider}'`);
  return loadEngine({ model: values.model, quantize, threads: positiveInteger(values.threads, "threads"), executionProvider, slots: sizes.slots ?? 1, contextLength: sizes.contextLength });
}
