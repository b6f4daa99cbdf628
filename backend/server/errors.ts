import type { Context } from "hono";
import { errorResponse } from "../../protocol/http/error-response.ts";

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
