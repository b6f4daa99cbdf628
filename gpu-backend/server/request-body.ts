import type { Context } from "hono";
import type * as z from "zod";
import { validate } from "../../protocol/errors.ts";
import { jsonTooDeep, jsonTooDeepBody } from "../../protocol/json-depth.ts";
import { errorResponse } from "./errors.ts";

/**
 * The request's JSON body checked against its schema: the parsed value, or the answer to send
 * (400 for a body that is not JSON, 422 in Mistral's validation shape for one that breaks the schema or nests too deep).
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<{ data: z.output<S> } | { response: Response }> {
  const text = await c.req.text();
  if (jsonTooDeep(text)) return { response: c.json(jsonTooDeepBody(), 422) };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { response: errorResponse(c, 400, "The request body is not valid JSON.", "invalid_request_error", "invalid_json") };
  }
  const result = validate(schema, body);
  if (!result.success) return { response: c.json(result.error, 422) };
  return { data: result.data };
}

/** A request for a model this backend does not serve. */
export function unknownModel(c: Context, model: string): Response {
  return errorResponse(c, 404, `The model \`${model}\` does not exist on this backend.`, "invalid_request_error", "model_not_found", "model");
}
