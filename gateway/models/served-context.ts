import type { BackendStatus } from "../../protocol/health.ts";
import { backendPool } from "../routing/backend-pool.ts";
import type { ModelDefinition } from "./model-definition.ts";

/** How long an isolate trusts the pool's view; the pool itself only re-polls every few seconds. */
const SERVED_TTL_MS = 5_000;

/** Per deployment served by a healthy backend: the context it is served with, null = the catalog's. */
export type ServedContexts = Map<string, number | null>;

/**
 * A deployment's served context is the largest max_context_length its healthy backends report;
 * a backend that reports none may serve the catalog's full length, so then it is the catalog's.
 */
export function servedContexts(backends: BackendStatus[]): ServedContexts {
  const served: ServedContexts = new Map();
  for (const backend of backends) {
    if (!backend.ready || backend.draining) continue;
    const reported = backend.max_context_length;
    for (const deployment of backend.models) {
      const previous = served.get(deployment);
      served.set(deployment, previous === null || reported === null ? null : Math.max(previous ?? 0, reported));
    }
  }
  return served;
}

/** The model as its backends serve it: the catalog's context, or less where they serve less. */
export function asServed(model: ModelDefinition, served: ServedContexts): ModelDefinition {
  const context = served.get(model.deployment) ?? model.max_context_length;
  return { ...model, max_context_length: Math.min(model.max_context_length, context) };
}

let cached: { served: ServedContexts; expires: number } | undefined;

/**
 * The pool's view, cached in the isolate so a request costs no extra pool call; a deployment not
 * in the cached view (new, or none healthy when it was read) is looked up at once.
 */
export async function loadServedContexts(env: Env, deployment: string): Promise<ServedContexts> {
  const now = Date.now();
  if (cached && cached.expires > now && cached.served.has(deployment)) return cached.served;
  const served = servedContexts(await backendPool(env).list());
  cached = { served, expires: now + SERVED_TTL_MS };
  return served;
}
