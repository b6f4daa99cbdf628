import { freemem } from "node:os";
import { InferenceSession } from "onnxruntime-node";
import type * as z from "zod";
import { EngineOptions, optionDefaults } from "../options.ts";
import { openCheckpoint, storedBytes } from "./checkpoint/checkpoint.ts";
import type { ModelConfig } from "./checkpoint/config.ts";
import { tensorNames } from "./checkpoint/tensor-names.ts";
import { TensorRows } from "./checkpoint/tensor-rows.ts";
import { cachedModelGraph } from "./graph/graph-cache.ts";
import { OnnxEngine } from "./onnx-engine.ts";
import { kvBytesPerValue } from "./kv-pool.ts";
import { kvBytesPerToken } from "./parameters.ts";

/** Opens a checkpoint, builds (or reuses) its cached ONNX graph and starts one ORT session. */
export async function loadEngine(input: z.input<typeof EngineOptions>): Promise<OnnxEngine> {
  const options = EngineOptions.parse(input);
  const checkpoint = await openCheckpoint(options.model);
  const config = checkpoint.config;
  const contextLength = options.contextLength ?? config.maxPositions;
  if (contextLength > config.maxPositions) {
    throw new Error(
      `context length ${contextLength} exceeds the model's max_position_embeddings ${config.maxPositions}`,
    );
  }
  const modelPath = await cachedModelGraph(checkpoint, {
    quantize: options.quantize,
    quantGroupSize: options.quantGroupSize,
    kvCacheDtype: options.kvCacheDtype,
  });
  const weightBytes = storedBytes(checkpoint);
  if (weightBytes > 2 ** 30)
    process.stderr.write(
      `loading the graph of a ${(weightBytes / 2 ** 20).toFixed(0)} MB checkpoint into ONNX Runtime (${options.quantize ?? "fp32"})\n`,
    );
  const session = await InferenceSession.create(modelPath, {
    executionProviders: [options.executionProvider],
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    logSeverityLevel: 4,
    // A memory pattern is planned per set of input shapes, and a step's shapes (tokens, batch, cached
    // length) change nearly every step: the patterns only made int4's peak RSS 50 MB higher, for no speed.
    enableMemPattern: false,
    ...(options.profile !== undefined && { enableProfiling: true, profileFilePrefix: options.profile }),
    extra: { session: { intra_op: { allow_spinning: options.spinning ? "1" : "0" } } },
  });
  const blocks = kvPoolBlocks(config, contextLength, options);
  return new OnnxEngine(
    session,
    config,
    new TensorRows(checkpoint.tensors.get(tensorNames.embedding)!),
    contextLength,
    { blocks, blockSize: options.blockSize, dtype: options.kvCacheDtype },
    options.stepTokens,
  );
}

/** Each layer's key (or value) pool is one typed array, which V8 caps at 4 GiB. */
const maxPoolArrayBytes = 2 ** 32;

/**
 * Blocks of the KV pool: what the memory budget buys, at least one full-context sequence (or
 * start-up fails, as vLLM does), at most what one typed array per layer can hold.
 */
function kvPoolBlocks(config: ModelConfig, contextLength: number, options: EngineOptions): number {
  const tokenBytes = kvBytesPerToken(config, kvBytesPerValue[options.kvCacheDtype]);
  const blockBytes = tokenBytes * options.blockSize;
  const blocksPerSequence = Math.ceil(contextLength / options.blockSize);
  const budget = options.kvCacheMemory ?? Math.floor(freemem() * optionDefaults.kvCacheMemoryShare);
  const blocks =
    options.kvCacheSequences !== undefined
      ? options.kvCacheSequences * blocksPerSequence
      : Math.floor(budget / blockBytes);
  if (blocks < blocksPerSequence) {
    throw new Error(
      `the KV cache (${mebibytes(budget)}) holds ${blocks * options.blockSize} tokens, less than one sequence of the ${contextLength}-token context ` +
        `(${mebibytes(blocksPerSequence * blockBytes)} at ${tokenBytes} bytes per token): raise --kv-cache-memory or lower --context`,
    );
  }
  return Math.min(blocks, Math.floor((maxPoolArrayBytes / blockBytes) * 2 * config.layers));
}

const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
