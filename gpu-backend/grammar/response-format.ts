import type { ResponseFormat } from "../../protocol/chat.ts";
import type { GrammarSpec } from "./grammars.ts";
import { prepareSchema, type PreparedSchema } from "./json-schema-support.ts";

/** Any JSON object: what `json_object` asks for (OpenAI's and Mistral's JSON mode). */
const ANY_OBJECT: PreparedSchema = { schema: { type: "object" }, ranges: {} };

/** What a response_format constrains the content to; undefined for plain text. Throws UnsupportedSchemaError. */
export function responseGrammar(format: ResponseFormat | undefined): GrammarSpec | undefined {
  if (format === undefined || format.type === "text") return undefined;
  // JSON mode: any object, with any properties.
  if (format.type === "json_object") return { prepared: ANY_OBJECT, closedObjects: false };
  return {
    prepared: prepareSchema(format.json_schema!.schema, format.json_schema!.strict !== false),
    closedObjects: true,
  };
}
