import type { Context } from "hono";
import type * as z from "zod";
import { jsonTooDeep, jsonTooDeepBody, validate } from "../protocol/index.ts";
import { errorResponse } from "./errors.ts";

/** A request's JSON body (as sent, and validated by `schema`), or the 400/422 response to answer with. */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<{ body: unknown; data: z.output<S> } | { response: Response }> {
  const text = await c.req.text();
  if (jsonTooDeep(text)) return { response: c.json(jsonTooDeepBody(), 422) };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { response: errorResponse(c, 400, "Request body is not valid JSON", "invalid_request_error", {}, "invalid_json") };
  }
  const result = validate(schema, body);
  return result.success ? { body, data: result.data } : { response: c.json(result.error, 422) };
}
