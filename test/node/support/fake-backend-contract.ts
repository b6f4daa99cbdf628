import type { BackendHealth } from "../../../protocol/health.ts";

/**
 * How a fake backend behaves and what it saw; shared by the Node server and the workerd tests that steer it.
 * Its /health answers the backend contract's body with the load set here.
 */
export interface BackendBehaviour extends Pick<
  BackendHealth,
  "status" | "running" | "waiting" | "free_kv_slots" | "models" | "max_context_length"
> {
  /** Answer the next N inference requests with `failStatus`. */
  failNext: number;
  failStatus: number;
  /** Fail the stream (drop the connection) after this many content deltas; -1 = never. */
  failAfterDeltas: number;
  /** Accept requests and never answer (until the client goes away). */
  hang: boolean;
  /** Stop sending, the connection left open, after this many content deltas; -1 = never. */
  stallAfterDeltas: number;
  /** Before the first content delta, send only `: keep-alive` comments, every 500 ms, for this long (as moxie serve does while a request waits). */
  keepaliveBeforeMs: number;
  /** Content deltas per completion and the pause between them (a non-streamed answer waits for all of them). */
  deltas: number;
  delayMs: number;
  /** Answer GET /health (false: 404, like servers that only have /v1/models). */
  healthRoute: boolean;
  /** Bearer token required on /v1 routes, if set. */
  secret: string | null;
  /**
   * Where a stream reports usage: "finish" on the last finish chunk (Mistral, moxie serve), "chunk"
   * only in OpenAI's usage-only chunk (vLLM). Either way the usage-only chunk comes when
   * stream_options.include_usage asks for it.
   */
  streamUsage: "finish" | "chunk";
  /** Refuse chat requests with 400 context_length_exceeded, as a backend does for a prompt longer than its context. */
  refuseContext: boolean;
}

export interface BackendStats {
  requests: number;
  completed: number;
  aborted: number;
  lastBody: Record<string, unknown> | null;
  lastRequestId: string | null;
  /** The W3C trace context the last request came with. */
  lastTraceparent: string | null;
}
