import { loadEngine } from "../backend/engine/load-engine.ts";
import {
  ExecutionProvider,
  KvCacheDtype,
  WeightDtype,
  optionDefaults,
  Pooling,
  QuantGroupSize,
  Quantization,
} from "../backend/options.ts";
import type { OnnxEngine } from "../backend/engine/onnx-engine.ts";
import type { Values } from "./command.ts";

/** The flags of every command that loads a model into the engine (moxie serve too). */
export const engineOptions = {
  model: {
    type: "string",
    required: true,
    placeholder: "DIR|FILE.gguf",
    description: "Hugging Face checkpoint folder (config.json + safetensors), or a GGUF file (or a folder holding one)",
  },
  quantize: {
    type: "string",
    choices: Quantization.options,
    description: "weight-only quantisation of the linear layers (default: the checkpoint's weights in fp32)",
  },
  "quant-group-size": {
    type: "string",
    choices: [...QuantGroupSize.values].map(String),
    description:
      "weights per scale under --quantize (default: 128 for int4, 32 for int8): larger groups read fewer bytes per weight (faster decode), at some cost in accuracy",
  },
  dtype: {
    type: "string",
    choices: WeightDtype.options,
    default: optionDefaults.dtype,
    description:
      "what the weights not quantised are stored and multiplied in: float16 halves their memory, on --execution-provider webgpu only",
  },
  "kv-cache-dtype": {
    type: "string",
    choices: KvCacheDtype.options,
    default: optionDefaults.kvCacheDtype,
    description: "what the KV cache stores: float16 holds twice the tokens in the same memory (bench/RESULTS.md)",
  },
  threads: { type: "integer", min: 1, description: "ONNX Runtime intra-op threads (default: all cores)" },
  "execution-provider": {
    type: "string",
    choices: ExecutionProvider.options,
    default: optionDefaults.executionProvider,
    description:
      "where ONNX Runtime runs the graph: webgpu keeps the weights and the KV pool on a GPU (README: Running on a GPU)",
  },
  spinning: {
    type: "boolean",
    description:
      "let ONNX Runtime's idle threads spin between ops: faster steps only when the engine has its cores to itself (bench/RESULTS.md)",
  },
} as const;

/** How `moxie embed` and `moxie serve` pool an embedding's positions. */
export const poolingOption = {
  type: "string",
  choices: Pooling.options,
  default: optionDefaults.pooling,
  description: "embedding pooling of the final hidden states",
} as const;

/** The flags of the engine's measurements (moxie bench, bench/): two threads, as the anchors in ../shared are measured. */
export const measurementOptions = {
  threads: { ...engineOptions.threads, default: "2", description: "ONNX Runtime intra-op threads" },
  prompt: { type: "integer", min: 1, default: "512", description: "prefill prompt length" },
  depth: {
    type: "integer",
    min: 0,
    default: "0",
    description: "cached tokens each sequence holds before decoding (llama-batched-bench -npp)",
  },
} as const;

/** The flags every one-shot model command takes. */
export const modelOptions = {
  ...engineOptions,
  json: { type: "boolean", description: "one JSON object per line on stdout" },
} as const;

/** The engine options the engineOptions flags set (moxie serve adds its own around them). */
export function engineSettings(values: Values<typeof engineOptions>) {
  return {
    model: values.model,
    quantize: values.quantize,
    quantGroupSize: quantGroupSizeOf(values["quant-group-size"]),
    dtype: values.dtype,
    kvCacheDtype: values["kv-cache-dtype"],
    threads: values.threads,
    executionProvider: values["execution-provider"],
    spinning: values.spinning,
  };
}

export async function engineFromOptions(
  values: Values<typeof engineOptions>,
  sizes: { maxSeqs: number; contextLength: number },
): Promise<OnnxEngine> {
  return loadEngine({
    ...engineSettings(values),
    ...sizes,
    // One-shot commands run a known number of sequences: the KV pool holds exactly those.
    kvCacheSequences: sizes.maxSeqs,
  });
}

/** A --quant-group-size value as the engine option (undefined: the precision's default). */
export function quantGroupSizeOf(text: string | undefined) {
  return text === undefined ? undefined : QuantGroupSize.parse(Number(text));
}
