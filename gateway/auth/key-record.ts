import * as z from "zod";

const limit = z.number().int().positive().nullable();

/** The period a money budget applies to; null = for the key's whole life. */
export const BudgetPeriod = z.enum(["day", "week", "month"]);
export type BudgetPeriod = z.infer<typeof BudgetPeriod>;

/** Per-key limits; null means unlimited. */
export const KeyLimits = z.object({
  rpm: limit,
  tpm: limit,
  max_concurrent: limit,
  monthly_token_budget: limit,
  /** Spend allowed per budget_period, in the unit the catalog's prices are in. */
  max_budget: z.number().positive().nullable(),
  budget_period: BudgetPeriod.nullable(),
});
export type KeyLimits = z.infer<typeof KeyLimits>;

export const NO_LIMITS: KeyLimits = {
  rpm: null,
  tpm: null,
  max_concurrent: null,
  monthly_token_budget: null,
  max_budget: null,
  budget_period: null,
};

/**
 * A prefix-cache scope: keys of one scope share the backends' cached prompt blocks. No ':', which
 * separates the scope from a client's own cache_salt, so no salt can spell another scope.
 */
export const CacheScope = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "letters, digits, '.', '_' or '-' (at most 128)");

/** A key as the gateway and the admin API see it: everything but the secret. */
export const ApiKeyRecord = z.object({
  id: z.string(),
  name: z.string(),
  key_prefix: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  /** After this instant the key is refused (401, code expired_api_key); null = never. */
  expires_at: z.string().nullable(),
  /** Public model names (or aliases) the key may use; null = every model. */
  allowed_models: z.array(z.string()).nullable(),
  /** The prefix-cache scope it shares with other keys; null = its own (its id). */
  cache_scope: CacheScope.nullable(),
  /** Whether the request log keeps this key's request and response bodies (see gateway/logs/). */
  log_bodies: z.boolean(),
  limits: KeyLimits,
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecord>;

/** The scope of a key's prefix cache: the operator's cache_scope, else the key alone. */
export function cacheScopeOf(key: Pick<ApiKeyRecord, "id" | "cache_scope">): string {
  return key.cache_scope ?? key.id;
}
