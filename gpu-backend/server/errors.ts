import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorBody } from "../../protocol/errors.ts";
import type { Refusal } from "../worker-thread/messages.ts";

/** An error answer in the API's own shape (Mistral's `{object: "error", message, type, param, code}`). */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): Response {
  return c.json(errorBody(message, type, code, param), status);
}

/** The model is still loading (or the backend is shutting down): retry soon. */
export function unavailable(c: Context, message: string): Response {
  c.header("Retry-After", "1");
  return errorResponse(c, 503, message, "service_unavailable", "overloaded");
}

/** The answer to a request the worker refused before running it; a full queue says when to retry. */
export function refusalResponse(c: Context, refusal: Refusal): Response {
  if (refusal.status === 503) c.header("Retry-After", "1");
  return errorResponse(c, refusal.status, refusal.message, refusal.type, refusal.code ?? null, refusal.param ?? null);
}
