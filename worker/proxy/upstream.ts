import { backendSecret, backendUrl } from "../routing/backend.ts";
import type { BackendPool, PickedBackend, PickResult } from "../routing/backend-pool.ts";

/** Retries after the first attempt, only ever before the response has started. */
const MAX_RETRIES = 2;

export interface UpstreamRequest {
  deployment: string;
  affinityKey: string | null;
  path: string;
  body: unknown;
  requestId: string;
  /** Aborts the backend request (client disconnect). */
  signal: AbortSignal;
}

export type UpstreamResult =
  | { response: Response; backend: PickedBackend }
  | { response: null; retryAfterSeconds: number; lastError: string | null };

/**
 * Sends a request to the pool's choice, moving to the next backend on a connection failure or a
 * 5xx before any byte of the response; each failure feeds that backend's circuit breaker. The
 * caller reports the final outcome of the attempt that answered (pool.finish). The first pick is
 * the caller's, made while the key's limiter decided.
 */
export async function sendUpstream(env: Env, pool: DurableObjectStub<BackendPool>, firstPick: Promise<PickResult>, request: UpstreamRequest): Promise<UpstreamResult> {
  const tried: string[] = [];
  let lastError: string | null = null;
  for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
    const pick = attempt === 0 ? await firstPick : await pool.pick(request.deployment, request.affinityKey, tried);
    if (!pick.backend) return { response: null, retryAfterSeconds: pick.retryAfterSeconds, lastError };
    const backend = pick.backend;
    tried.push(backend.id);
    const secret = backendSecret(env, backend);
    try {
      const response = await fetch(backendUrl(backend, request.path), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-request-id": request.requestId,
          ...(secret ? { authorization: `Bearer ${secret}` } : {}),
        },
        body: JSON.stringify(request.body),
        signal: request.signal,
      });
      if (response.status < 500) return { response, backend };
      lastError = `backend ${backend.id} answered ${response.status}`;
      await response.body?.cancel();
    } catch (error) {
      if (request.signal.aborted) {
        await pool.finish(backend.id, "cancelled");
        throw error;
      }
      lastError = `backend ${backend.id} unreachable: ${error instanceof Error ? error.message : String(error)}`;
    }
    await pool.finish(backend.id, "failure");
  }
  return { response: null, retryAfterSeconds: 1, lastError };
}
