import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorBody } from "../errors.ts";

export interface ErrorDetails {
  code?: string | null;
  param?: string | null;
  headers?: Record<string, string>;
}

/** Every error the gateway and the backend produce themselves, in Mistral's `{object: "error", message, type, param, code}`. */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  message: string,
  type: string,
  { code = null, param = null, headers = {} }: ErrorDetails = {},
): Response {
  return c.json(errorBody(message, type, code, param), status, headers);
}

/** The answer to a path neither app serves. */
export function routeNotFound(c: Context): Response {
  return errorResponse(c, 404, `No route ${c.req.method} ${c.req.path}.`, "not_found_error", { code: "not_found" });
}

/** Refuses bodies over `maxSize` bytes with 413, whether announced by content-length or streamed. */
export function limitBody(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: (c) =>
      errorResponse(c, 413, `The request body is larger than ${maxSize} bytes.`, "invalid_request_error", {
        code: "body_too_large",
      }),
  });
}
