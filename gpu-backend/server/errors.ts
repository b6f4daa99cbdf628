import type { Context } from "hono";
import { errorResponse } from "../../protocol/hono/error-response.ts";
import type { Refusal } from "../worker-thread/messages.ts";

/** The model is still loading (or the backend is shutting down): retry soon. */
export function unavailable(c: Context, message: string): Response {
  return errorResponse(c, 503, message, "service_unavailable", { code: "overloaded", headers: { "Retry-After": "1" } });
}

/** A request for a model this backend does not serve. */
export function unknownModel(c: Context, model: string): Response {
  return errorResponse(c, 404, `The model \`${model}\` does not exist on this backend.`, "invalid_request_error", {
    code: "model_not_found",
    param: "model",
  });
}

/** The answer to a request the worker refused before running it; a full queue says when to retry. */
export function refusalResponse(c: Context, refusal: Refusal): Response {
  const headers: Record<string, string> = refusal.status === 503 ? { "Retry-After": "1" } : {};
  return errorResponse(c, refusal.status, refusal.message, refusal.type, { code: refusal.code, param: refusal.param, headers });
}
