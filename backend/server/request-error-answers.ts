import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorResponse } from "../../protocol/http/error-response.ts";
import type { RequestError, RequestErrorReason } from "../request-error.ts";

/** How each reason the backend gives for refusing a request is answered over HTTP: the only such table. */
const answers: Record<
  RequestErrorReason,
  { status: ContentfulStatusCode; type: string; code: string | null; retryAfterSeconds?: number }
> = {
  unauthorized: { status: 401, type: "invalid_request_error", code: "unauthorized" },
  model_not_found: { status: 404, type: "invalid_request_error", code: "model_not_found" },
  // The model is still loading (or the backend is shutting down): retry soon.
  loading: { status: 503, type: "service_unavailable", code: "overloaded", retryAfterSeconds: 1 },
  queue_full: { status: 503, type: "service_unavailable", code: "overloaded", retryAfterSeconds: 1 },
  context_length: { status: 400, type: "invalid_request_error", code: "context_length_exceeded" },
  invalid_messages: { status: 400, type: "invalid_request_error", code: "invalid_messages" },
  too_many_choices: { status: 400, type: "invalid_request_error", code: "too_many_choices" },
  too_many_inputs: { status: 400, type: "invalid_request_error", code: "too_many_inputs" },
  unsupported_feature: { status: 400, type: "invalid_request_error", code: "unsupported_feature" },
  unsupported_schema: { status: 400, type: "invalid_request_error", code: "unsupported_schema" },
  internal: { status: 500, type: "internal_error", code: null },
};

/** The answer to a refused request; an overloaded or loading backend says when to retry. */
export function requestErrorResponse(c: Context, { reason, message, param }: RequestError): Response {
  const { status, type, code, retryAfterSeconds } = answers[reason];
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { "Retry-After": String(retryAfterSeconds) };
  return errorResponse(c, status, message, type, { code, param, headers });
}
