import { InferenceSession } from "onnxruntime-node";
import type * as z from "zod";
import { EngineOptions } from "../options.ts";
import { openCheckpoint, storedBytes } from "./checkpoint/checkpoint.ts";
import { cachedModelGraph } from "./graph/graph-cache.ts";
import { OnnxEngine } from "./onnx-engine.ts";

/** Opens a checkpoint, builds (or reuses) its cached ONNX graph and starts one ORT session. */
export async function loadEngine(input: z.input<typeof EngineOptions>): Promise<OnnxEngine> {
  const options = EngineOptions.parse(input);
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
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    logSeverityLevel: 4,
    ...(options.profile !== undefined && { enableProfiling: true, profileFilePrefix: options.profile }),
    extra: { session: { intra_op: { allow_spinning: options.spinning ? "1" : "0" } } },
  });
  return new OnnxEngine(session, config, options.maxSeqs, contextLength, options.stepTokens);
}
