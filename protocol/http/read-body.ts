import type { Context } from "hono";
import type * as z from "zod";
import { validate } from "../errors.ts";
import { jsonTooDeep, jsonTooDeepBody } from "../json-depth.ts";
import { errorResponse } from "./error-response.ts";

/**
 * A request's JSON body checked against its schema: the body as sent and the parsed value, or the
 * answer to send (400 for a body that is not JSON, 422 in Mistral's validation shape for one that breaks the schema
 * or nests deeper than MAX_JSON_DEPTH).
 */
export async function readBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<{ body: unknown; data: z.output<S> } | { response: Response }> {
  const text = await c.req.text();
  if (jsonTooDeep(text)) return { response: c.json(jsonTooDeepBody(), 422) };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      response: errorResponse(c, 400, "The request body is not valid JSON.", "invalid_request_error", {
        code: "invalid_json",
      }),
    };
  }
  const result = validate(schema, body);
  return result.success ? { body, data: result.data } : { response: c.json(result.error, 422) };
}
