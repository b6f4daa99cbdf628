import { freemem } from "node:os";
import { InferenceSession } from "onnxruntime-node";
import * as z from "zod";
import { openCheckpoint, storedBytes } from "./checkpoint/checkpoint.ts";
import type { ModelConfig } from "./checkpoint/config.ts";
import { cachedModelGraph } from "./graph/graph-cache.ts";
import { OnnxEngine } from "./onnx-engine.ts";
import { kvBytesPerToken } from "./parameters.ts";

export const engineOptionsSchema = z.object({
  /** A Hugging Face checkpoint folder. */
  model: z.string().min(1),
  quantize: z.enum(["int8", "int4"]).optional(),
  threads: z.number().int().positive().optional(),
  /** Longest sequence served (prompt + answer); defaults to the model's max_position_embeddings. */
  contextLength: z.number().int().positive().optional(),
  /** Bytes of the KV pool; defaults to half the memory free once the weights are loaded (see kvCacheSequences). */
  kvCacheMemory: z.number().int().positive().optional(),
  /** Sizes the KV pool for this many full-context sequences instead (one-shot commands, benchmarks, tests). */
  kvCacheSequences: z.number().int().positive().optional(),
  /** Positions per KV block (vLLM's default). */
  blockSize: z.number().int().positive().default(16),
  /** The same graph runs on either; CUDA needs onnxruntime-node installed with its CUDA binaries. */
  executionProvider: z.enum(["cpu", "cuda"]).default("cpu"),
  /**
   * Let ORT's idle threads spin between ops. Faster steps when the engine has the cores to itself;
   * off by default because spinning threads steal the cores from everything else in the process and machine.
   */
  spinning: z.boolean().default(false),
  /** Longest piece of one sequence's prompt run in one step; longer prompts take several steps. */
  maxStepTokens: z.number().int().positive().default(512),
  /** File prefix for ONNX Runtime's per-node profile (bench/engine-profile.ts reads it). */
  profile: z.string().optional(),
});
export type EngineOptions = z.input<typeof engineOptionsSchema>;

/** Opens a checkpoint, builds (or reuses) its cached ONNX graph and starts one ORT session. */
export async function loadEngine(input: EngineOptions): Promise<OnnxEngine> {
  const options = engineOptionsSchema.parse(input);
  const checkpoint = await openCheckpoint(options.model);
  const config = checkpoint.config;
  const contextLength = options.contextLength ?? config.maxPositions;
  if (contextLength > config.maxPositions) {
    throw new Error(`context length ${contextLength} exceeds the model's max_position_embeddings ${config.maxPositions}`);
  }
  const modelPath = cachedModelGraph(checkpoint, { quantize: options.quantize });
  const weightBytes = storedBytes(checkpoint);
  if (weightBytes > 2 ** 30) process.stderr.write(`loading the graph of a ${(weightBytes / 2 ** 20).toFixed(0)} MB checkpoint into ONNX Runtime (${options.quantize ?? "fp32"})\n`);
  const session = await InferenceSession.create(modelPath, {
    executionProviders: [options.executionProvider],
    ...(options.threads !== undefined && { intraOpNumThreads: options.threads }),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    logSeverityLevel: 4,
    ...(options.profile !== undefined && { enableProfiling: true, profileFilePrefix: options.profile }),
    extra: { session: { intra_op: { allow_spinning: options.spinning ? "1" : "0" } } },
  });
  const blocks = kvPoolBlocks(config, contextLength, options);
  return new OnnxEngine(session, config, contextLength, { blocks, blockSize: options.blockSize }, options.maxStepTokens);
}

/** Each layer's key (or value) pool is one typed array, which V8 caps at 4 GiB. */
const maxPoolArrayBytes = 2 ** 32;

/**
 * Blocks of the KV pool: what the memory budget buys, at least one full-context sequence (or
 * start-up fails, as vLLM does), at most what one typed array per layer can hold.
 */
function kvPoolBlocks(config: ModelConfig, contextLength: number, options: z.output<typeof engineOptionsSchema>): number {
  const blockBytes = kvBytesPerToken(config) * options.blockSize;
  const blocksPerSequence = Math.ceil(contextLength / options.blockSize);
  const budget = options.kvCacheMemory ?? Math.floor(freemem() / 2);
  const blocks = options.kvCacheSequences !== undefined ? options.kvCacheSequences * blocksPerSequence : Math.floor(budget / blockBytes);
  if (blocks < blocksPerSequence) {
    throw new Error(
      `the KV cache (${mebibytes(budget)}) holds ${blocks * options.blockSize} tokens, less than one sequence of the ${contextLength}-token context ` +
        `(${mebibytes(blocksPerSequence * blockBytes)} at ${kvBytesPerToken(config)} bytes per token): raise --kv-cache-memory or lower --context`,
    );
  }
  return Math.min(blocks, Math.floor((maxPoolArrayBytes / blockBytes) * 2 * config.layers));
}

const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
