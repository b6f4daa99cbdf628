import * as z from "zod";

const limit = z.number().int().positive().nullable();

/** Per-key limits; null means unlimited. */
export const KeyLimits = z.object({
  rpm: limit,
  tpm: limit,
  max_concurrent: limit,
  monthly_token_budget: limit,
});
export type KeyLimits = z.infer<typeof KeyLimits>;

/** A key as the gateway and the admin API see it: everything but the secret. */
export const ApiKeyRecord = z.object({
  id: z.string(),
  name: z.string(),
  key_prefix: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  /** Public model names (or aliases) the key may use; null = every model. */
  allowed_models: z.array(z.string()).nullable(),
  limits: KeyLimits,
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecord>;
