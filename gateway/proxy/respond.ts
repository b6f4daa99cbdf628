import type { Context } from "hono";
import type { UsageInfo } from "../../protocol/index.ts";
import { answerError, apiErrors } from "../api-errors.ts";
import { readBounded } from "../bounded-read.ts";
import type { GatewayEnv } from "../gateway-env.ts";
import { rateLimitHeaders } from "../ratelimit/headers.ts";
import type { LimitSnapshot } from "../ratelimit/usage-window.ts";
import type { Outcome, PickedBackend } from "../routing/backend-pool.ts";
import type { Admission } from "./admission.ts";
import { refusalOutcome } from "./backend-verdict.ts";
import type { Settlement } from "./settlement.ts";
import type { Forwarded } from "./fallback.ts";
import type { InferenceRoute, RouteSchema } from "./serve-inference.ts";
import { streamAnswer } from "./stream-answer.ts";
import type { UpstreamResult } from "./upstream.ts";
import { UsageScan } from "./usage-scan.ts";

/** The response header naming the public model that answered (another than asked when a fallback did). */
export const ANSWERING_MODEL_HEADER = "x-moxie-model";

/**
 * The largest non-streamed answer the gateway buffers (n = 16 with top_logprobs can pass 25 MB);
 * a stream is passed on unbuffered, whatever its length.
 */
export const MAX_BUFFERED_ANSWER_BYTES = 8 * 1024 * 1024;

/** The client's answer, and how the request is settled (a stream's once it ends). */
export interface Answer {
  response: Response;
  settlement: Settlement | Promise<Settlement>;
}

/** A backend's response on its way to the client. */
export interface Answering {
  c: Context<GatewayEnv>;
  /** The backend's response, and the backend. */
  response: Response;
  backend: PickedBackend;
  /** The model name the answer carries: the one the client asked for, or the fallback's id. */
  answeredAs: string;
  /** The rate-limit headers and the answering model's. */
  headers: Record<string, string>;
  /** The settlement of an answer by this backend. */
  settled: (status: number, outcome: Outcome, usage?: UsageInfo | null) => Settlement;
}

/**
 * The client's answer to what forwarding brought: 499 when the client left, 503 when no backend
 * answered, else the backend's refusal passed on, its stream relayed or its JSON answer read.
 */
export async function respond<S extends RouteSchema>(
  c: Context<GatewayEnv>,
  route: InferenceRoute<S>,
  admission: Admission<S>,
  forwarded: Forwarded | null,
  gatewayAbort: AbortController,
): Promise<Answer> {
  if (!forwarded) return { response: new Response(null, { status: 499 }), settlement: unanswered(499) };
  const { upstream, model } = forwarded;
  if (!upstream.response) return noBackend(c, admission, upstream);
  const { response, backend } = upstream;
  const answeredAs = model === admission.model ? admission.request.model : model.id;
  const answering: Answering = {
    c,
    response,
    backend,
    answeredAs,
    headers: { ...rateLimitHeaders(admission.snapshot), [ANSWERING_MODEL_HEADER]: answeredAs },
    settled: (status, outcome, usage = null) => ({ status, usage, answer: { backend, model, outcome } }),
  };
  if (!response.ok) return passOnRefusal(answering);
  const stream = response.headers.get("content-type")?.startsWith("text/event-stream")
    ? (response.body as ReadableStream<Uint8Array> | null)
    : null;
  if (stream && route.streams(admission.request))
    return streamAnswer(answering, stream, {
      clientAskedForUsage: route.asksForUsageChunk(admission.request),
      promptEstimate: admission.promptEstimate,
      abortUpstream: () => gatewayAbort.abort(),
    });
  return readAnswer(answering, admission.snapshot);
}

function unanswered(status: number): Settlement {
  return { status, answer: null, usage: null };
}

function noBackend<S extends RouteSchema>(
  c: Context<GatewayEnv>,
  admission: Admission<S>,
  upstream: Extract<UpstreamResult, { response: null }>,
): Answer {
  // Which backend failed and how is the operator's business: logged, not told to the client.
  if (upstream.lastError) console.error(JSON.stringify({ request_id: c.var.requestId, error: upstream.lastError }));
  const error = apiErrors.noBackend(admission.request.model, Boolean(upstream.lastError));
  const headers = { ...rateLimitHeaders(admission.snapshot), "retry-after": String(upstream.retryAfterSeconds) };
  return { response: answerError(c, error, headers), settlement: unanswered(503) };
}

/** The backend's verdict on this request (a 4xx, or a 500 the request caused), passed on as it came. */
function passOnRefusal({ response, headers, settled }: Answering): Answer {
  return {
    response: new Response(response.body, {
      status: response.status,
      headers: { ...headers, "content-type": response.headers.get("content-type") ?? "application/json" },
    }),
    settlement: settled(response.status, refusalOutcome(response.status)),
  };
}

/** A non-streamed answer, read whole (up to MAX_BUFFERED_ANSWER_BYTES) to name the answering model in it. */
async function readAnswer(
  { c, response, backend, answeredAs, headers, settled }: Answering,
  snapshot: LimitSnapshot,
): Promise<Answer> {
  let answer: { model?: string; usage?: UsageInfo };
  const scan = new UsageScan();
  try {
    const text = await readBounded(response.body, MAX_BUFFERED_ANSWER_BYTES, (piece) => scan.feed(piece));
    // Too large: the backend did generate it, so the key is charged its usage, read on the way past.
    if (text === null)
      return {
        response: answerError(c, apiErrors.answerTooLarge(MAX_BUFFERED_ANSWER_BYTES), headers),
        settlement: settled(413, "success", scan.usage),
      };
    answer = JSON.parse(text) as typeof answer;
  } catch (error) {
    // The client left while the answer was read: no verdict on the backend.
    if (c.req.raw.signal.aborted)
      return { response: new Response(null, { status: 499 }), settlement: settled(499, "cancelled") };
    const reason = error instanceof Error ? error.message : String(error);
    console.error(JSON.stringify({ request_id: c.var.requestId, error: `backend ${backend.id} broke off: ${reason}` }));
    return { response: answerError(c, apiErrors.answerBrokeOff(), headers), settlement: settled(502, "failure") };
  }
  answer.model = answeredAs;
  const usage = answer.usage ?? null;
  return {
    response: c.json(answer, 200, { ...headers, ...(usage ? rateLimitHeaders(snapshot, usage.total_tokens) : {}) }),
    settlement: settled(200, "success", usage),
  };
}
