import { availableParallelism } from "node:os";
import * as z from "zod";

/** Weight-only quantisation of the linear layers (MatMulNBits); unset keeps the checkpoint's weights in fp32. */
export const Quantization = z.enum(["int8", "int4"]);
/** Weights per quantisation scale: 32 is llama.cpp's Q4_0/Q8_0; 64 and 128 read fewer scale bytes per weight (GPTQ/AWQ's group size). */
export const QuantGroupSize = z.literal([32, 64, 128]);
/** What the weights that are not quantised are stored and multiplied in: float16 halves them, and needs a GPU (webgpu). */
export const WeightDtype = z.enum(["float32", "float16"]);
/** What the KV pool stores. */
export const KvCacheDtype = z.enum(["float32", "float16"]);
/** Where ONNX Runtime runs the graph: the CPU, or a GPU through WebGPU (Dawn over Vulkan, Metal or D3D12). */
export const ExecutionProvider = z.enum(["cpu", "webgpu"]);
/** How an embedding pools the final hidden states of its tokens. */
export const Pooling = z.enum(["mean", "last"]);
export type Quantization = z.infer<typeof Quantization>;
export type QuantGroupSize = z.infer<typeof QuantGroupSize>;
export type WeightDtype = z.infer<typeof WeightDtype>;
export type KvCacheDtype = z.infer<typeof KvCacheDtype>;
export type Pooling = z.infer<typeof Pooling>;
export type ExecutionProvider = z.infer<typeof ExecutionProvider>;
/**
 * Where the KV pool lives: host memory that JS writes each step's new keys and values into (the
 * CPU EP), or the EP's device, where the graph writes them itself and nothing of the pool crosses.
 */
export type KvPoolPlace = "host" | "device";
export const kvPoolPlace = (provider: ExecutionProvider): KvPoolPlace => (provider === "cpu" ? "host" : "device");

/** Each option's one default, shared by the schemas below and the `moxie` flags' help. */
export const optionDefaults = {
  executionProvider: "cpu",
  /** Sequences run at once; each holds KV blocks for the tokens it has, not a whole context. */
  maxSeqs: 16,
  /** Positions per KV block (vLLM's default). */
  blockSize: 16,
  /** Share of the memory free once the weights are loaded that the KV pool takes by default. */
  kvCacheMemoryShare: 0.5,
  maxQueue: 256,
  /** Small enough that a long prompt never stalls the running decodes for long. */
  stepTokens: 256,
  pooling: "mean",
  host: "127.0.0.1",
  port: 8000,
  /** The engine's compute precision: what vLLM's `auto` means, and what the fidelity tests pin. */
  dtype: "float32",
  kvCacheDtype: "float32",
  /** Seconds between SSE comments on a stream; well under the gateway's UPSTREAM_IDLE_SECONDS (60). */
  streamKeepalive: 15,
} as const;

/** What the engine is built with: the checkpoint, how its weights and graph run, and its KV pool. */
export const EngineOptions = z.object({
  /** A Hugging Face checkpoint folder. */
  model: z.string().min(1),
  quantize: Quantization.optional(),
  /** The dtype of the weights not quantised (vLLM's --dtype); float16 runs only on webgpu. */
  dtype: WeightDtype.default(optionDefaults.dtype),
  /** Weights per quantisation scale: fewer bytes per weight at larger groups, at some cost in accuracy (bench/RESULTS.md). Default: quantGroupSizeFor the precision. */
  quantGroupSize: QuantGroupSize.optional(),
  /** ONNX Runtime intra-op threads. */
  threads: z
    .int()
    .positive()
    .default(() => availableParallelism()),
  /** webgpu keeps the weights and the KV pool on the GPU (README: Running on a GPU). */
  executionProvider: ExecutionProvider.default(optionDefaults.executionProvider),
  maxSeqs: z.int().positive().default(optionDefaults.maxSeqs),
  /** Tokens one sequence holds, prompt + answer; defaults to the model's max_position_embeddings. */
  contextLength: z.int().positive().optional(),
  /** Bytes of the KV pool; defaults to kvCacheMemoryShare of the memory free once the weights are loaded. */
  kvCacheMemory: z.int().positive().optional(),
  /** Sizes the KV pool for this many full-context sequences instead (one-shot commands, benchmarks, tests). */
  kvCacheSequences: z.int().positive().optional(),
  blockSize: z.int().positive().default(optionDefaults.blockSize),
  /** float16 halves the memory per cached token; float32 keeps the model's exact arithmetic (what the fidelity tests pin). */
  kvCacheDtype: KvCacheDtype.default(optionDefaults.kvCacheDtype),
  /** Tokens one step feeds at most (the scheduler's budget, and the longest prompt piece one engine run takes). */
  stepTokens: z.int().positive().default(optionDefaults.stepTokens),
  /**
   * Let ORT's idle threads spin between ops. Faster steps when the engine has the cores to itself;
   * off by default because spinning threads steal the cores from everything else in the process and machine.
   */
  spinning: z.boolean().default(false),
  /** File prefix for ONNX Runtime's per-node profile (bench/engine-profile.ts reads it). */
  profile: z.string().optional(),
});

/** The inference thread adds its queue bound and how embeddings are pooled. */
export const InferenceOptions = EngineOptions.extend({
  /** Sequences that may wait to start; beyond it requests get 503. */
  maxQueue: z.int().positive().default(optionDefaults.maxQueue),
  pooling: Pooling.default(optionDefaults.pooling),
  /** Keep finished sequences' full KV blocks for later requests with the same prefix (vLLM's automatic prefix caching). */
  prefixCaching: z.boolean().default(true),
});

/** `moxie serve` adds the HTTP side. */
export const BackendOptions = InferenceOptions.extend({
  host: z.string().default(optionDefaults.host),
  port: z.int().min(0).max(65535).default(optionDefaults.port),
  /** Model ids clients use; the first is the served name (default: the folder name). */
  servedModelNames: z.array(z.string()).optional(),
  /** The bearer secret clients send; unset only with insecureNoAuth on a loopback host. */
  secret: z.string().optional(),
  insecureNoAuth: z.boolean().default(false),
  /** Seconds between the SSE comments that keep a quiet stream alive (0 = none). */
  streamKeepalive: z.number().min(0).default(optionDefaults.streamKeepalive),
});

export type EngineOptions = z.output<typeof EngineOptions>;
export type InferenceOptions = z.output<typeof InferenceOptions>;
export type BackendOptions = z.output<typeof BackendOptions>;
