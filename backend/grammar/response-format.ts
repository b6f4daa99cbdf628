import type { ResponseFormat } from "../../protocol/chat.ts";
import type { GrammarSpec } from "./grammars.ts";
import { prepareSchema } from "./json-schema-support.ts";

/** Any JSON object, with any properties: what `json_object` asks for (OpenAI's and Mistral's JSON mode). */
export const JSON_MODE: GrammarSpec = { prepared: { schema: { type: "object" }, ranges: {} }, closedObjects: false };

/** What a response_format constrains the content to; undefined for plain text. Throws UnsupportedSchemaError. */
export function responseGrammar(format: ResponseFormat | undefined): GrammarSpec | undefined {
  if (format === undefined || format.type === "text") return undefined;
  if (format.type === "json_object") return JSON_MODE;
  return {
    prepared: prepareSchema(format.json_schema!.schema, format.json_schema!.strict !== false),
    closedObjects: true,
  };
}
