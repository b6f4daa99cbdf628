import { InferenceSession } from "onnxruntime-node";
import * as z from "zod";
import { openCheckpoint, storedBytes } from "./checkpoint/checkpoint.ts";
import { cachedModelGraph } from "./graph/graph-cache.ts";
import { OnnxEngine } from "./onnx-engine.ts";

export const engineOptionsSchema = z.object({
  /** A Hugging Face checkpoint folder. */
  model: z.string().min(1),
  quantize: z.enum(["int8", "int4"]).optional(),
  threads: z.number().int().positive().optional(),
  slots: z.number().int().positive().default(8),
  /** Tokens one slot holds; defaults to the model's max_position_embeddings, capped at 4096. */
  contextLength: z.number().int().positive().optional(),
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
  const contextLength = options.contextLength ?? Math.min(config.maxPositions, 4096);
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
  return new OnnxEngine(session, config, options.slots, contextLength, options.maxStepTokens);
}
