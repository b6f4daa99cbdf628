import * as z from "zod";

const count = z.int().nonnegative();

/**
 * A moxie backend's load as of its scheduler's last step: the scheduler counts it, the inference
 * thread adds its throughput and grammar state, /health serves it (BackendHealth), /metrics
 * exports it under vLLM's names, and the gateway routes on it.
 */
export const LoadReport = z.object({
  /** Sequences decoding now, and sequences waiting for room. */
  running: count,
  waiting: count,
  /** Sequences that could still start now, and at most. */
  free_kv_slots: count,
  kv_slots: count,
  /** Blocks of the KV-cache pool, and those free or only held by the prefix cache. */
  kv_cache_blocks: count,
  free_kv_cache_blocks: count,
  /** Prompt tokens since the start: prefilled or found in the prefix cache (as vLLM counts them); a request's n choices count once. */
  prefilled_tokens: count,
  /** Prompt tokens looked up in the prefix cache, and those found there. */
  prefix_cache_queries: count,
  prefix_cache_hits: count,
  /** Sequences sent back to the queue to free KV blocks for others. */
  preemptions: count,
  /** Bytes the engine fed to and fetched from its session since the start (the KV pool, read in place, not counted): host↔device traffic on a GPU. */
  uploaded_bytes: count,
  downloaded_bytes: count,
  /** Engine steps since the start whose attention gathered the rows' cached blocks, and those that read a window of the KV pool where it lies. */
  steps_gathered: count,
  steps_read_in_place: count,
  /** Generated tokens per second over the last few seconds. */
  tokens_per_second: z.number().nonnegative(),
  /**
   * Whether constrained decoding (JSON mode, json_schema, forced tool calls) works: the grammar
   * thread passed its self-check. False while one (re)starts after a failure.
   */
  grammar_ok: z.boolean(),
});
export type LoadReport = z.infer<typeof LoadReport>;

/** The load of a backend that has not run a step yet. */
export const IDLE_LOAD: LoadReport = {
  running: 0,
  waiting: 0,
  free_kv_slots: 0,
  kv_slots: 0,
  kv_cache_blocks: 0,
  free_kv_cache_blocks: 0,
  prefilled_tokens: 0,
  prefix_cache_queries: 0,
  prefix_cache_hits: 0,
  preemptions: 0,
  uploaded_bytes: 0,
  downloaded_bytes: 0,
  steps_gathered: 0,
  steps_read_in_place: 0,
  tokens_per_second: 0,
  grammar_ok: false,
};

/**
 * GET /health of a moxie backend: the contract the gateway routes on. It answers 200 when the
 * model is loaded ("ready") and 503 while it loads or once its device failed, with the latest load report.
 */
export const BackendHealth = z.object({
  /** "failed": the device failed (lost, out of memory); the backend exits for its supervisor to restart it. */
  status: z.enum(["ready", "loading", "failed"]),
  /** Why it failed. */
  reason: z.string().optional(),
  /** The model ids (first the served name, then its aliases) this backend answers to. */
  models: z.array(z.string()),
  ...LoadReport.shape,
  /** Prompt + completion tokens one sequence may hold; null until the model is loaded. */
  max_context_length: z.int().positive().nullable(),
  /** Whether the model takes tools (its tokenizer has Mistral v3's tool-call tokens); false until it is loaded. */
  function_calling: z.boolean(),
});
export type BackendHealth = z.infer<typeof BackendHealth>;

/**
 * What the gateway accepts from any server in its pool: moxie's body, or the subset other servers
 * send (vLLM's /health is a bare 200; servers may leave out the load).
 */
export const LenientBackendHealth = BackendHealth.partial().extend({ status: z.string().optional() });
export type LenientBackendHealth = z.infer<typeof LenientBackendHealth>;

/**
 * What the gateway knows of one backend in its pool (GET /admin/backends, the console's Backends
 * page): its configuration, what its last health probe said, and the gateway's own bookkeeping.
 */
export const BackendStatus = z.object({
  id: z.string(),
  url: z.string(),
  draining: z.boolean(),
  ready: z.boolean(),
  /** Deployments it serves: configured ones, else those it reports. */
  models: z.array(z.string()),
  /** Requests running plus waiting at the backend, when it reports them. */
  queued: count.nullable(),
  free_kv_slots: count.nullable(),
  /** The longest context (prompt + completion tokens) it serves, when it reports one. */
  max_context_length: z.int().positive().nullable(),
  /** Whether its models take tools (moxie reports it in /health; other servers count as not). */
  function_calling: z.boolean(),
  /** Requests this gateway has sent there and not yet finished. */
  inflight: count,
  circuit: z.enum(["closed", "open", "half-open"]),
  checked_at: z.string(),
  /** Why the last probe found it unhealthy. */
  error: z.string().optional(),
});
export type BackendStatus = z.infer<typeof BackendStatus>;

/** What one health probe learns of a backend. */
export type HealthReport = Pick<
  BackendStatus,
  "ready" | "models" | "queued" | "free_kv_slots" | "max_context_length" | "function_calling" | "error"
>;
