import { TENANT_HEADER } from "../../protocol/index.ts";
import { backendSecret, backendUrl } from "../routing/backend.ts";
import type { BackendPool, PickedBackend, PickResult } from "../routing/backend-pool.ts";
import { verdictOf } from "./backend-verdict.ts";
import type { ForwardingTrail } from "./settlement.ts";

/** Retries after the first attempt, only ever before the response has started. */
const MAX_RETRIES = 2;

export interface UpstreamRequest {
  deployment: string;
  affinityKey: string | null;
  path: string;
  body: unknown;
  requestId: string;
  /** The gateway's span, which the backend's continues. */
  traceparent: string;
  /** The tenant the backend's scheduler shares seats between: the API key's id. */
  tenant: string;
  /** Aborts the backend request: the client left, or the gateway gave up on it. */
  signal: AbortSignal;
  /** How long the backend may take to answer: a stream's headers, or a whole non-streamed answer. */
  deadlineMs: number;
  /** Whether the answer streams: then the deadline ends with the headers (the relay watches the stream itself). */
  streams: boolean;
  /** Counts each backend tried. */
  trail: ForwardingTrail;
}

export type UpstreamResult =
  | { response: Response; backend: PickedBackend }
  | { response: null; retryAfterSeconds: number; lastError: string | null };

/**
 * Sends a request to the pool's choice, moving to the next backend on a connection failure or an
 * answer that is not the backend's verdict (see verdictOf); failures (not a busy 503) feed that
 * backend's circuit breaker. The caller reports the final outcome of the attempt that answered
 * (pool.finish). The first pick is the caller's, made while the key's limiter decided.
 */
export async function sendUpstream(
  env: Env,
  pool: DurableObjectStub<BackendPool>,
  firstPick: Promise<PickResult>,
  request: UpstreamRequest,
): Promise<UpstreamResult> {
  const tried: string[] = [];
  let lastError: string | null = null;
  let retryAfterSeconds = 1;
  for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
    // A client that has gone gets nothing more sent on its behalf.
    if (attempt > 0) request.signal.throwIfAborted();
    const pick = attempt === 0 ? await firstPick : await pool.pick(request.deployment, request.affinityKey, tried);
    // Once every backend was tried, how soon they said to retry; before, how soon the pool's view may change.
    if (!pick.backend)
      return {
        response: null,
        retryAfterSeconds: tried.length > 0 ? retryAfterSeconds : pick.retryAfterSeconds,
        lastError,
      };
    const backend = pick.backend;
    tried.push(backend.id);
    request.trail.attempts += 1;
    const secret = backendSecret(env, backend);
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`no answer within ${request.deadlineMs / 1000} s`)),
      request.deadlineMs,
    );
    /** A non-streamed answer is still being read when this returns: its deadline stays. */
    let bodyUnderDeadline = false;
    try {
      const response = await fetch(backendUrl(backend, request.path), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-request-id": request.requestId,
          traceparent: request.traceparent,
          [TENANT_HEADER]: request.tenant,
          ...(secret ? { authorization: `Bearer ${secret}` } : {}),
        },
        body: JSON.stringify(request.body),
        redirect: "manual",
        signal: AbortSignal.any([request.signal, deadline.signal]),
      });
      const verdict = verdictOf(response.status);
      if (verdict === "answer") {
        bodyUnderDeadline = !request.streams;
        return { response, backend };
      }
      await response.body?.cancel();
      lastError = `backend ${backend.id} answered ${response.status}`;
      if (verdict === "busy") {
        // Not this backend's fault (saysBusy): no mark against it, and the next one is tried.
        retryAfterSeconds = Math.max(retryAfterSeconds, Number(response.headers.get("retry-after")) || 1);
        await pool.finish(backend, "cancelled");
        continue;
      }
    } catch (error) {
      if (request.signal.aborted) {
        await pool.finish(backend, "cancelled");
        throw error;
      }
      const reason: unknown = deadline.signal.aborted ? deadline.signal.reason : error;
      lastError = `backend ${backend.id} failed: ${reason instanceof Error ? reason.message : String(reason)}`;
    } finally {
      if (!bodyUnderDeadline) clearTimeout(timer);
    }
    await pool.finish(backend, "failure");
  }
  return { response: null, retryAfterSeconds, lastError };
}
