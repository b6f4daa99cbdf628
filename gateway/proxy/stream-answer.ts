import { PROMPT_TOKENS_HEADER, type UsageInfo } from "../../protocol/index.ts";
import { apiErrors } from "../api-errors.ts";
import { gatewayConfig } from "../config.ts";
import type { Answer, Answering } from "./respond.ts";
import { relaySse, type RelayResult } from "./sse-relay.ts";

const STREAM_INTERRUPTED = apiErrors.streamInterrupted("").code;

/** How each way a stream can end is recorded (usage status) and reported to the pool. */
const streamEnding = {
  complete: [200, "success"],
  client_aborted: [499, "cancelled"],
  upstream_failed: [502, "failure"],
} as const;

/** A streamed answer, relayed event by event; it is settled when the stream ends, however it ends. */
export function streamAnswer(
  answering: Answering,
  body: ReadableStream<Uint8Array>,
  options: { clientAskedForUsage: boolean; promptEstimate: number; abortUpstream: () => void },
): Answer {
  const { c, response } = answering;
  const relay = relaySse(body, {
    publicModel: answering.answeredAs,
    clientAskedForUsage: options.clientAskedForUsage,
    abortUpstream: options.abortUpstream,
    clientGone: c.req.raw.signal,
    idleMs: gatewayConfig(c.env).upstreamIdleMs,
    capture: answering.capture,
  });
  const settlement = relay.finished.then((result) => {
    const [status, outcome] = streamEnding[result.outcome];
    return answering.settled(status, outcome, charged(result, response, options.promptEstimate), {
      finishReason: result.finishReason,
      firstContentAt: result.firstContentAt,
      errorCode: result.outcome === "upstream_failed" ? STREAM_INTERRUPTED : null,
    });
  });
  return {
    response: new Response(relay.body, {
      headers: { ...answering.headers, "content-type": "text/event-stream", "cache-control": "no-cache" },
    }),
    settlement,
  };
}

/**
 * What a stream is charged: the backend's usage. A stream cut short has no usage chunk, yet the
 * backend did the work: charge the prompt it reported (else the estimate, an upper bound) and the
 * tokens sent. A backend that failed before sending any content (it died with the request queued
 * or prefilling) answered nothing, and a failed request is not billed. A client that leaves still
 * pays its prompt.
 */
function charged(
  { outcome, usage, contentEvents }: RelayResult,
  response: Response,
  promptEstimate: number,
): UsageInfo {
  if (usage) return usage;
  const prompt = Number(response.headers.get(PROMPT_TOKENS_HEADER) ?? Number.NaN);
  const reported = Number.isInteger(prompt) && prompt >= 0 ? prompt : promptEstimate;
  const promptTokens = outcome === "upstream_failed" && contentEvents === 0 ? 0 : reported;
  return { prompt_tokens: promptTokens, completion_tokens: contentEvents, total_tokens: promptTokens + contentEvents };
}
