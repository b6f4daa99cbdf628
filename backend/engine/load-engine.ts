import { statSync } from "node:fs";
import { freemem } from "node:os";
import { dirname, join } from "node:path";
import { InferenceSession } from "onnxruntime-node";
import type * as z from "zod";
import { EngineOptions, kvPoolPlace, optionDefaults } from "../options.ts";
import { openCheckpoint, storedBytes } from "./checkpoint/checkpoint.ts";
import type { ModelConfig } from "./checkpoint/config.ts";
import { tensorNames } from "./checkpoint/tensor-names.ts";
import { TensorRows } from "./checkpoint/tensor-rows.ts";
import { cachedModelGraph } from "./graph/graph-cache.ts";
import { describeAdapter, findWebGpuAdapter, noAdapterHelp, type WebGpuAdapter } from "./device/webgpu-adapter.ts";
import { DeviceKvPool } from "./device/device-kv-pool.ts";
import { HostKvPool } from "./host-kv-pool.ts";
import { OnnxEngine } from "./onnx-engine.ts";
import { chunkBlocksFor, kvBytesPerValue, poolChunks, sharedChunkBlocks, type KvPoolShape } from "./kv-pool.ts";
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
  if (options.dtype === "float16" && options.executionProvider === "cpu")
    throw new Error(
      "--dtype float16 is for a GPU (--execution-provider webgpu): on ONNX Runtime's CPU EP float16 weights " +
        "take more memory than float32, not less (bench/RESULTS.md); on the CPU, --quantize int8 halves the weights",
    );
  const device = options.executionProvider === "webgpu" ? await webGpuAdapter(options) : undefined;
  const modelPath = await cachedModelGraph(checkpoint, {
    quantize: options.quantize,
    quantGroupSize: options.quantGroupSize,
    dtype: options.dtype,
    kvCacheDtype: options.kvCacheDtype,
    kvPool: kvPoolPlace(options.executionProvider),
  });
  const weightBytes = storedBytes(checkpoint);
  if (weightBytes > 2 ** 30)
    process.stderr.write(
      `loading the graph of a ${(weightBytes / 2 ** 20).toFixed(0)} MB checkpoint into ONNX Runtime (${options.quantize ?? options.dtype})\n`,
    );
  const weightsOnDevice = statSync(join(dirname(modelPath), "model.data")).size;
  const session = await createSession(modelPath, options).catch((error: Error) => {
    if (/adapter/i.test(error.message)) throw new Error(`${noAdapterHelp} (ONNX Runtime: ${error.message})`);
    throw device
      ? new Error(`loading ${mebibytes(weightsOnDevice)} of weights onto the device failed: ${error.message}`)
      : error;
  });
  const blocks = kvPoolBlocks(config, contextLength, options, device);
  const shape: KvPoolShape = {
    layers: config.layers,
    kvHeads: config.kvHeads,
    blocks,
    blockSize: options.blockSize,
    headDim: config.headDim,
    dtype: options.kvCacheDtype,
    chunkBlocks: chunkBlocksFor(blocks, options.kvCacheSequences),
    place: kvPoolPlace(options.executionProvider),
  };
  const pool = device ? await devicePool(options, shape, config, weightsOnDevice) : new HostKvPool(shape);
  return new OnnxEngine(
    session,
    config,
    new TensorRows(checkpoint.tensors.get(tensorNames.embedding)!),
    contextLength,
    pool,
    options.stepTokens,
  );
}

function createSession(modelPath: string, options: EngineOptions): Promise<InferenceSession> {
  return InferenceSession.create(modelPath, {
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
}

/** The KV pool on the device, its size printed; a failed allocation (out of memory) says what it asked for. */
async function devicePool(
  options: EngineOptions,
  shape: KvPoolShape,
  config: ModelConfig,
  weightBytes: number,
): Promise<DeviceKvPool> {
  const poolBytes =
    kvBytesPerToken(config, kvBytesPerValue[shape.dtype]) * poolChunks(shape) * shape.chunkBlocks * shape.blockSize;
  const sizes = `weights ${mebibytes(weightBytes)}, KV pool ${mebibytes(poolBytes)} (${shape.blocks * shape.blockSize} tokens)`;
  process.stderr.write(`on the device: ${sizes}\n`);
  return DeviceKvPool.create(options.executionProvider, shape).catch((error: Error) => {
    throw new Error(
      `allocating the KV pool on the device failed (${sizes}, in ${2 * shape.layers} buffers): ${error.message}; lower --kv-cache-memory or --context`,
    );
  });
}

/**
 * The WebGPU adapter, printed at start-up, refused for float16 weights or cache without shader-f16; a
 * missing package leaves the limits to WebGPU's guaranteed minimums and the adapter to ONNX Runtime.
 */
async function webGpuAdapter(options: EngineOptions): Promise<WebGpuAdapter> {
  const adapter = await findWebGpuAdapter();
  if (!adapter) {
    process.stderr.write(
      "WebGPU: the adapter is not described (the webgpu package is not installed); ONNX Runtime picks it\n",
    );
    return { vendor: "", architecture: "", device: "", description: "", ...webGpuBaseLimits, shaderF16: false };
  }
  process.stderr.write(`${describeAdapter(adapter)}\n`);
  const lacking = (what: string, instead: string) =>
    new Error(
      `${what} needs shader-f16, which this adapter (${adapter.vendor} ${adapter.architecture}) lacks: use ${instead}`,
    );
  if (options.kvCacheDtype === "float16" && !adapter.shaderF16)
    throw lacking("a float16 KV cache", "--kv-cache-dtype float32");
  if (options.dtype === "float16" && !adapter.shaderF16)
    throw lacking("--dtype float16", "--dtype float32 or --quantize");
  return adapter;
}

/** WebGPU's guaranteed minimums, where the adapter's own limits are unknown. */
const webGpuBaseLimits = { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 };

/** Each layer's key (or value) pool on the host is one typed array, which V8 caps at 4 GiB. */
const maxPoolArrayBytes = 2 ** 32;

/**
 * Blocks of the KV pool: what the memory budget buys, at least one full-context sequence (or
 * start-up fails, as vLLM does), at most what one pool per layer can hold (a typed array on the
 * host, a buffer the adapter can bind on a device). A device's memory cannot be queried through
 * WebGPU, so without --kv-cache-memory its pool holds max-seqs full-context sequences.
 */
function kvPoolBlocks(
  config: ModelConfig,
  contextLength: number,
  options: EngineOptions,
  device?: WebGpuAdapter,
): number {
  const tokenBytes = kvBytesPerToken(config, kvBytesPerValue[options.kvCacheDtype]);
  const blockBytes = tokenBytes * options.blockSize;
  const blocksPerSequence = Math.ceil(contextLength / options.blockSize);
  const sequences =
    options.kvCacheSequences ?? (device && options.kvCacheMemory === undefined ? options.maxSeqs : undefined);
  const budget = options.kvCacheMemory ?? Math.floor(freemem() * optionDefaults.kvCacheMemoryShare);
  const wanted = sequences !== undefined ? sequences * blocksPerSequence : Math.floor(budget / blockBytes);
  const poolLimit = device ? Math.min(device.maxBufferSize, device.maxStorageBufferBindingSize) : maxPoolArrayBytes;
  // A layer's key pool holds 1 / (2 · layers) of a block's bytes per block, in whole chunks that
  // hold the blocks and the scratch block (kv-pool.ts: up to sharedChunkBlocks - 1 more than asked).
  const limitChunks = Math.floor(((poolLimit / blockBytes) * 2 * config.layers) / sharedChunkBlocks);
  const blocks = Math.min(wanted, limitChunks * sharedChunkBlocks - 1);
  if (blocks < blocksPerSequence) {
    const what =
      blocks < wanted
        ? `one ${device ? "device buffer" : "typed array"} per layer pool (${mebibytes(poolLimit)})`
        : `the KV cache (${mebibytes(budget)})`;
    throw new Error(
      `${what} holds ${blocks * options.blockSize} tokens, less than one sequence of the ${contextLength}-token context ` +
        `(${mebibytes(blocksPerSequence * blockBytes)} at ${tokenBytes} bytes per token): raise --kv-cache-memory or lower --context`,
    );
  }
  return blocks;
}

const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
