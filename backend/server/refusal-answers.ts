import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorResponse } from "../../protocol/http/error-response.ts";
import type { Refusal, RefusalReason } from "../inference/refusal.ts";

/** How each reason the inference thread gives for a refusal is answered over HTTP. */
const answers: Record<
  RefusalReason,
  { status: ContentfulStatusCode; type: string; code: string | null; retryAfterSeconds?: number }
> = {
  queue_full: { status: 503, type: "service_unavailable", code: "overloaded", retryAfterSeconds: 1 },
  context_length: { status: 400, type: "invalid_request_error", code: "context_length_exceeded" },
  invalid_messages: { status: 400, type: "invalid_request_error", code: "invalid_messages" },
  too_many_choices: { status: 400, type: "invalid_request_error", code: "too_many_choices" },
  unsupported_schema: { status: 400, type: "invalid_request_error", code: "unsupported_schema" },
  internal: { status: 500, type: "internal_error", code: null },
};

/** The answer to a request the worker refused before running it; a full queue says when to retry. */
export function refusalResponse(c: Context, { reason, message, param }: Refusal): Response {
  const { status, type, code, retryAfterSeconds } = answers[reason];
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { "Retry-After": String(retryAfterSeconds) };
  return errorResponse(c, status, message, type, { code, param, headers });
}
