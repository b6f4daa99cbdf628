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
import { NO_DETAIL, type AnswerDetail, type Settlement } from "./settlement.ts";
import type { Forwarded } from "./fallback.ts";
import type { InferenceRoute, RouteSchema } from "./serve-inference.ts";
import { streamAnswer } from "./stream-answer.ts";
import type { UpstreamResult } from "./upstream.ts";
import { UsageScan } from "./usage-scan.ts";
import { LenientErrorBody } from "../../protocol/errors.ts";
import { BodyCapture } from "../logs/logged-request.ts";

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
  /** Keeps what the client is sent, when the key logs bodies. */
  capture: BodyCapture | null;
  /** The settlement of an answer by this backend. */
  settled: (status: number, outcome: Outcome, usage?: UsageInfo | null, detail?: Partial<AnswerDetail>) => Settlement;
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
  if (!forwarded) return { response: new Response(null, { status: 499 }), settlement: unanswered(499, null) };
  const { upstream, model } = forwarded;
  if (!upstream.response) return noBackend(c, admission, upstream);
  const { response, backend } = upstream;
  const answeredAs = model === admission.model ? admission.request.model : model.id;
  const capture = admission.key.log_bodies ? new BodyCapture() : null;
  const answering: Answering = {
    c,
    response,
    backend,
    answeredAs,
    headers: { ...rateLimitHeaders(admission.snapshot), [ANSWERING_MODEL_HEADER]: answeredAs },
    capture,
    settled: (status, outcome, usage = null, detail = {}) => ({
      status,
      usage,
      answer: { backend, model, outcome },
      detail: { ...NO_DETAIL, responseBody: capture?.captured ?? null, ...detail },
    }),
  };
  if (!response.ok) return await passOnRefusal(answering);
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

function unanswered(status: number, errorCode: string | null): Settlement {
  return { status, answer: null, usage: null, detail: { ...NO_DETAIL, errorCode } };
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
  return { response: answerError(c, error, headers), settlement: unanswered(503, error.code) };
}

/**
 * The backend's verdict on this request (a 4xx, or a 500 the request caused), passed on as it came.
 * It is read first, for the log's error code: an error body is small (the cap is a JSON answer's).
 */
async function passOnRefusal(answering: Answering): Promise<Answer> {
  const { response, headers, capture, settled } = answering;
  let text: string | null;
  try {
    text = await readBounded(response.body, MAX_BUFFERED_ANSWER_BYTES);
  } catch (error) {
    return readFailed(answering, error);
  }
  if (text === null) return tooLarge(answering, null);
  capture?.add(text);
  return {
    response: new Response(text, {
      status: response.status,
      headers: { ...headers, "content-type": response.headers.get("content-type") ?? "application/json" },
    }),
    settlement: settled(response.status, refusalOutcome(response.status), null, { errorCode: errorCodeOf(text) }),
  };
}

/** A non-streamed answer, read whole (up to MAX_BUFFERED_ANSWER_BYTES) to name the answering model in it. */
async function readAnswer(answering: Answering, snapshot: LimitSnapshot): Promise<Answer> {
  const { c, response, answeredAs, headers, capture, settled } = answering;
  let answer: { model?: string; usage?: UsageInfo; choices?: { finish_reason?: string | null }[] };
  const scan = new UsageScan();
  try {
    const text = await readBounded(response.body, MAX_BUFFERED_ANSWER_BYTES, (piece) => scan.feed(piece));
    // Too large: the backend did generate it, so the key is charged its usage, read on the way past.
    if (text === null) return tooLarge(answering, scan.usage);
    answer = JSON.parse(text) as typeof answer;
  } catch (error) {
    return readFailed(answering, error);
  }
  answer.model = answeredAs;
  const usage = answer.usage ?? null;
  const body = JSON.stringify(answer);
  capture?.add(body);
  return {
    response: c.body(body, 200, {
      ...headers,
      ...(usage ? rateLimitHeaders(snapshot, usage.total_tokens) : {}),
      "content-type": "application/json",
    }),
    settlement: settled(200, "success", usage, { finishReason: answer.choices?.[0]?.finish_reason ?? null }),
  };
}

function tooLarge({ c, headers, settled }: Answering, usage: UsageInfo | null): Answer {
  const error = apiErrors.answerTooLarge(MAX_BUFFERED_ANSWER_BYTES);
  return {
    response: answerError(c, error, headers),
    settlement: settled(413, "success", usage, { errorCode: error.code }),
  };
}

/** Reading the backend's answer failed: the client left (no verdict on the backend), or the backend broke off. */
function readFailed({ c, backend, headers, settled }: Answering, error: unknown): Answer {
  if (c.req.raw.signal.aborted)
    return { response: new Response(null, { status: 499 }), settlement: settled(499, "cancelled") };
  const reason = error instanceof Error ? error.message : String(error);
  console.error(JSON.stringify({ request_id: c.var.requestId, error: `backend ${backend.id} broke off: ${reason}` }));
  const brokeOff = apiErrors.answerBrokeOff();
  return {
    response: answerError(c, brokeOff, headers),
    settlement: settled(502, "failure", null, { errorCode: brokeOff.code }),
  };
}

/** The `code` of an error body, as a string (vLLM's is a number); null when it has none. */
function errorCodeOf(text: string): string | null {
  try {
    const parsed = LenientErrorBody.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.code != null ? String(parsed.data.code) : null;
  } catch {
    return null;
  }
}
