import type { Context } from "hono";
import type * as z from "zod";
import { validate } from "../errors.ts";
import { errorResponse } from "./error-response.ts";

/**
 * A request's JSON body checked against its schema: the body as sent and the parsed value, or the
 * answer to send (400 for a body that is not JSON, 422 in Mistral's validation shape for one that breaks the schema).
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<{ body: unknown; data: z.output<S> } | { response: Response }> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return { response: errorResponse(c, 400, "The request body is not valid JSON.", "invalid_request_error", { code: "invalid_json" }) };
  }
  const result = validate(schema, body);
  return result.success ? { body, data: result.data } : { response: c.json(result.error, 422) };
}
