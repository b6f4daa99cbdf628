import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorBody } from "../protocol/index.ts";

/** Every error the gateway itself produces, in Mistral's error shape. */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  message: string,
  type: string,
  headers: Record<string, string> = {},
  code: string | null = null,
): Response {
  return c.json(errorBody(message, type, code), status, headers);
}
