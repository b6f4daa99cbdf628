import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorResponse } from "../protocol/http/error-response.ts";
import { errorBody, type ErrorBody } from "../protocol/index.ts";
import { roundMoney } from "./ratelimit/headers.ts";
import type { LimitSnapshot, RefusalReason } from "./ratelimit/usage-window.ts";

/** The most of a client's model name an error message echoes. */
const MAX_ECHOED_NAME = 64;

type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limited"
  | "service_unavailable"
  | "upstream_error"
  | "internal_error";

/** An error the gateway answers with: its status and the fields of Mistral's error body. */
export interface ApiError {
  status: ContentfulStatusCode;
  type: ErrorType;
  code: string | null;
  param: string | null;
  message: string;
}

type Fields = Omit<ApiError, "code" | "param"> & Partial<Pick<ApiError, "code" | "param">>;
const error = (fields: Fields): ApiError => ({ code: null, param: null, ...fields });

/**
 * Every error the gateway gives of its own, each defined once. (A request that fails validation,
 * a body too large and an unknown route are answered by protocol/http/, as the backend answers them.)
 */
export const apiErrors = {
  missingApiKey: () =>
    error({
      status: 401,
      type: "authentication_error",
      code: "missing_api_key",
      message: "Missing API key: send Authorization: Bearer <key>",
    }),
  invalidApiKey: () =>
    error({
      status: 401,
      type: "authentication_error",
      code: "invalid_api_key",
      message: "Invalid or revoked API key",
    }),
  expiredApiKey: (expiresAt: string) =>
    error({
      status: 401,
      type: "authentication_error",
      code: "expired_api_key",
      message: `This API key expired at ${expiresAt}`,
    }),
  /** A model no catalog name refers to; with `route`, one that is not of the route's type either. */
  modelNotFound: (name: string, route?: string) =>
    error({
      status: 404,
      type: "invalid_request_error",
      code: "model_not_found",
      param: "model",
      message: `Model '${echoed(name)}' not found${route ? ` for ${route}` : ""}`,
    }),
  modelNotAllowed: (name: string) =>
    error({
      status: 403,
      type: "permission_error",
      code: "model_not_allowed",
      message: `This API key may not use model '${echoed(name)}'`,
    }),
  maxTokensOverContext: (maxTokens: number, context: number, model: string) =>
    error({
      status: 400,
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "max_tokens",
      message: `max_tokens is ${maxTokens}, more than the ${context}-token context of model '${model}' (prompt + max_tokens must fit in it)`,
    }),
  /** A request larger than one of its key's limits: refused for good, so no retry-after. */
  exceedsKeyLimit: (reason: RefusalReason, snapshot: LimitSnapshot) =>
    error({
      status: 400,
      type: "invalid_request_error",
      code: "exceeds_key_limit",
      param: "max_tokens",
      message: exceededMessage(reason, snapshot),
    }),
  rateLimited: (reason: keyof typeof rateLimitMessages) =>
    error({
      status: 429,
      type: "rate_limited",
      code: reason === "budget" || reason === "spend" ? "budget_exceeded" : "rate_limit_exceeded",
      message: rateLimitMessages[reason],
    }),
  /** Which backend failed and how is the operator's business (logged), not the client's. */
  noBackend: (model: string, anyTried: boolean) =>
    error({
      status: 503,
      type: "service_unavailable",
      code: "no_backend_available",
      message: `Service unavailable: ${anyTried ? "no backend could take the request" : `no healthy backend serves '${model}'`}`,
    }),
  /**
   * A 4xx, not a 502: the request asked for this size and would fail again unchanged, and SDKs retry
   * a 5xx on their own, generating (and charging) it again; 413 names the problem, the message its fix.
   */
  answerTooLarge: (maxBytes: number) =>
    error({
      status: 413,
      type: "invalid_request_error",
      code: "response_too_large",
      message: `The answer is larger than the ${maxBytes / 1024 / 1024} MiB the gateway passes on unstreamed: stream it (stream: true) or ask for less (n, max_tokens, top_logprobs)`,
    }),
  answerBrokeOff: () =>
    error({
      status: 502,
      type: "upstream_error",
      code: "upstream_broke_off",
      message: "The backend's response broke off",
    }),
  /** Sent as a stream's last event: its 200 is long gone. */
  streamInterrupted: (message: string) =>
    error({ status: 502, type: "upstream_error", code: "stream_interrupted", message }),
  internal: () => error({ status: 500, type: "internal_error", message: "Internal gateway error" }),
  adminDisabled: () =>
    error({
      status: 503,
      type: "service_unavailable",
      message: "The admin API is disabled: set the ADMIN_TOKEN secret",
    }),
  invalidAdminToken: () => error({ status: 401, type: "authentication_error", message: "Invalid admin token" }),
  loggedRequestNotFound: (id: string) =>
    error({ status: 404, type: "not_found_error", message: `No logged request '${echoed(id)}'` }),
  keyNotFound: (id: string) => error({ status: 404, type: "not_found_error", message: `No API key '${id}'` }),
  backendNotFound: (id: string) => error({ status: 404, type: "not_found_error", message: `No backend '${id}'` }),
  /** Only backends added through the admin API can be removed through it. */
  registeredBackendNotFound: (id: string) =>
    error({ status: 404, type: "not_found_error", message: `No registered backend '${id}'` }),
  savedModelNotFound: (id: string) =>
    error({ status: 404, type: "not_found_error", message: `No model '${id}' saved through the admin API` }),
  consoleFileNotFound: (path: string) =>
    error({ status: 404, type: "not_found_error", message: `No console file ${path}` }),
  invalidFallbacks: (problem: string) =>
    error({ status: 400, type: "invalid_request_error", code: "invalid_fallbacks", message: problem }),
  /** A key that would be born expired is a mistake (a wrong year or offset), not a wish: refused, not stored. */
  invalidExpiry: (expiresAt: string) =>
    error({
      status: 400,
      type: "invalid_request_error",
      code: "invalid_expiry",
      param: "expires_at",
      message: `expires_at ${expiresAt} is in the past`,
    }),
} satisfies Record<string, (...args: never[]) => ApiError>;

/** The answer to an error: Mistral's error body, with `headers` (rate limits, retry-after, the answering model). */
export function answerError(c: Context, error: ApiError, headers: Record<string, string> = {}): Response {
  // For the refusal counter (middleware/refusal-counter.ts).
  c.set("errorCode", error.code);
  return errorResponse(c, error.status, error.message, error.type, { code: error.code, param: error.param, headers });
}

/** The error's body alone, as a stream's error event carries it. */
export function bodyOf(error: ApiError): ErrorBody {
  return errorBody(error.message, error.type, error.code, error.param);
}

const rateLimitMessages = {
  concurrency: "Too many concurrent requests for this API key",
  requests: "Requests rate limit exceeded",
  tokens: "Tokens per minute rate limit exceeded",
  budget: "Monthly token budget exhausted",
  spend: "Spend budget of this API key exhausted for the current period",
} as const satisfies Partial<Record<RefusalReason, string>>;

/** A client's model name as error messages echo it: cut short, so a huge name does not come back whole. */
function echoed(name: string): string {
  return name.length > MAX_ECHOED_NAME ? `${name.slice(0, MAX_ECHOED_NAME)}…` : name;
}

/** Why a request larger than one of its key's limits is refused for good, with the numbers. */
function exceededMessage(reason: RefusalReason, snapshot: LimitSnapshot): string {
  const fix =
    "lower max_tokens or n (an unset max_tokens counts as the whole context after the prompt), or shorten the prompt";
  const { tpm, monthly_token_budget } = snapshot.limits;
  const tokens = `This request may use up to ${snapshot.cost} tokens (the prompt's upper bound plus n × max_tokens)`;
  switch (reason) {
    case "tokens":
      return `${tokens}, more than this API key's limit of ${tpm} tokens per minute: ${fix}`;
    case "budget":
      return `${tokens}, more than this API key's monthly token budget of ${monthly_token_budget}: ${fix}`;
    default: {
      const budget = snapshot.budget;
      return `This request may cost up to ${roundMoney(budget?.cost ?? 0)} (the prompt's upper bound plus n × max_tokens at the model's prices), more than this API key's whole budget of ${budget?.limit} per ${budget?.period ?? "lifetime"}: ${fix}`;
    }
  }
}
