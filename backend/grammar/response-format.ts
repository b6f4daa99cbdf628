import type { ResponseFormat } from "../../protocol/chat.ts";
import type { GrammarSpec } from "./grammars.ts";
import { prepareRequestSchema } from "./json-schema-support.ts";

/** Any JSON object, with any properties: what `json_object` asks for (OpenAI's and Mistral's JSON mode). */
export const JSON_MODE: GrammarSpec = {
  prepared: { schema: { type: "object" }, ranges: {} },
  closedObjects: false,
  param: "response_format",
};

/** What a response_format constrains the content to; undefined for plain text. Refuses a schema it cannot enforce (RequestError). */
export function responseGrammar(format: ResponseFormat | undefined): GrammarSpec | undefined {
  if (format === undefined || format.type === "text") return undefined;
  if (format.type === "json_object") return JSON_MODE;
  return {
    prepared: prepareRequestSchema(format.json_schema!.schema, format.json_schema!.strict !== false, "response_format"),
    closedObjects: true,
    param: "response_format",
  };
}
