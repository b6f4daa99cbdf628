import * as z from "zod";

/** A registered backend: any server speaking the public API (moxie serve, vLLM, llama.cpp server). */
export const BackendConfig = z.object({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, '.', '_' or '-' (at most 64)"),
  url: z.url({ protocol: /^https?$/ }).transform(normalizeBackendUrl),
  /** Deployments (backend-side model ids) it serves; empty = whatever its /health or /v1/models reports. */
  models: z.array(z.string()).default([]),
  /**
   * Name of the Worker secret holding the backend's bearer token (wrangler secret / .dev.vars). Only
   * names with BACKEND as a word, so no backend can be handed ADMIN_TOKEN or another secret.
   */
  secret_name: z
    .string()
    .regex(
      /^([A-Z0-9]+_)*BACKEND(_[A-Z0-9]+)*$/,
      "an upper-case secret name with BACKEND as a word, e.g. BACKEND_SECRET or GPU1_BACKEND_TOKEN",
    )
    .nullable()
    .default(null),
  draining: z.boolean().default(false),
});
export type BackendConfig = z.infer<typeof BackendConfig>;

/** The bearer token for a backend, read from the Worker secret it names. */
export function backendSecret(env: Env, backend: Pick<BackendConfig, "secret_name">): string | undefined {
  if (!backend.secret_name) return undefined;
  const value = (env as unknown as Record<string, unknown>)[backend.secret_name];
  return typeof value === "string" ? value : undefined;
}

/** The backend's URL for an API path (the configured URL has no trailing slash: see normalizeBackendUrl). */
export function backendUrl(backend: Pick<BackendConfig, "url">, path: string): string {
  return backend.url + path;
}

/**
 * One spelling per backend URL, so the registry, the admin API's checks and the pool's list agree:
 * the URL API's (lower-case scheme and host, no default port), without trailing slashes. Credentials,
 * a query or a fragment are kept for backendUrlProblem to refuse, never silently dropped.
 */
export function normalizeBackendUrl(url: string): string {
  return new URL(url).href.replace(/\/+$/, "");
}
