import * as z from "zod";

const count = z.int().nonnegative();

/**
 * GET /health of a moxie backend: the contract the gateway routes on. It answers 200 when the
 * model is loaded ("ready") and 503 while it loads; the load fields are the scheduler's latest.
 */
export const BackendHealth = z.object({
  status: z.enum(["ready", "loading"]),
  /** The model ids (first the served name, then its aliases) this backend answers to. */
  models: z.array(z.string()),
  /** Sequences decoding now, and sequences waiting for room. */
  running: count,
  waiting: count,
  /** Sequences that could still start now, and at most. */
  free_kv_slots: count,
  kv_slots: count,
  /** Blocks of the KV-cache pool, and those free or only held by the prefix cache. */
  kv_cache_blocks: count,
  free_kv_cache_blocks: count,
  tokens_per_second: z.number().nonnegative(),
  /** Prompt + completion tokens one sequence may hold; null until the model is loaded. */
  max_context_length: z.int().positive().nullable(),
  /** Whether the model takes tools (its tokenizer has Mistral v3's tool-call tokens); false until it is loaded. */
  function_calling: z.boolean(),
  /**
   * Whether constrained decoding (JSON mode, json_schema, forced tool calls) works: the grammar
   * thread passed its self-check. False while one (re)starts after a failure.
   */
  grammar_ok: z.boolean(),
});
export type BackendHealth = z.infer<typeof BackendHealth>;

/**
 * What the gateway accepts from any server in its pool: moxie's body, or the subset other servers
 * send (vLLM's /health is a bare 200; servers may leave out the load).
 */
export const LenientBackendHealth = BackendHealth.partial().extend({ status: z.string().optional() });
export type LenientBackendHealth = z.infer<typeof LenientBackendHealth>;
