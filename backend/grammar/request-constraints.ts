import type { ChatCompletionRequest, Tool } from "../../protocol/chat.ts";
import { RequestError } from "../request-error.ts";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import type { GrammarSpec } from "./grammars.ts";
import { prepareRequestSchema } from "./json-schema-support.ts";
import { responseGrammar } from "./response-format.ts";
import { ToolCallConstraint } from "./tool-call-constraint.ts";

/** What restricts a request's tokens: a grammar to compile (if any), and how each choice's constraint is made from its matcher. */
export interface ConstraintPlan {
  grammar: GrammarSpec | undefined;
  build(matcher: TokenConstraint | undefined): TokenConstraint | undefined;
}

/**
 * The calls Mistral's v3 models write after [TOOL_CALLS]: a list of {"name", "arguments"}, each
 * with one offered function's name and arguments valid against its parameters.
 */
function toolCallsGrammar(tools: Tool[], parallel: boolean): GrammarSpec {
  const call = (tool: Tool) => ({
    type: "object",
    properties: { name: { const: tool.function.name }, arguments: tool.function.parameters },
    required: ["name", "arguments"],
  });
  const schema = {
    type: "array",
    minItems: 1,
    ...(parallel ? {} : { maxItems: 1 }),
    items: { anyOf: tools.map(call) },
  };
  const strict = tools.every((tool) => tool.function.strict !== false);
  const prepared = prepareRequestSchema(schema, strict, "tools", (message) =>
    message.replace("at #/items/anyOf", "in the parameters of tool"),
  );
  return { prepared, closedObjects: true, param: "tools" };
}

/**
 * The constraint plan of a request: response_format's grammar, or the tool-call rules of
 * tool_choice (auto: the model decides, and a call it starts follows the tools' schemas; none:
 * [TOOL_CALLS] is masked; any/required: it is forced, then the call is constrained; a named
 * function: forced and constrained to that function). `toolCallsId` is the [TOOL_CALLS] token of
 * a v3 tokenizer. Refuses a request the constraints cannot serve as asked (RequestError, 400 naming the field).
 */
export function constraintPlan(
  request: ChatCompletionRequest,
  toolCallsId: number | undefined,
  vocabSize: number,
): ConstraintPlan {
  const response = responseGrammar(request.response_format);
  const tools = request.tools ?? [];
  const choice = request.tool_choice;
  if (tools.length === 0 || toolCallsId === undefined) {
    if (choice !== "auto" && choice !== "none")
      throw new RequestError("unsupported_schema", "tool_choice needs tools", "tool_choice");
    return { grammar: response, build: (matcher) => matcher };
  }
  // A JSON response format already masks [TOOL_CALLS] (a control token no grammar produces).
  if (choice === "none")
    return response
      ? { grammar: response, build: (matcher) => matcher }
      : { grammar: undefined, build: () => new ToolCallConstraint(toolCallsId, vocabSize, "ban", undefined) };
  if (response)
    throw new RequestError(
      "unsupported_schema",
      "response_format json modes cannot be combined with tools unless tool_choice is none",
      "response_format",
    );
  let offered = tools;
  if (typeof choice === "object") {
    offered = tools.filter((tool) => tool.function.name === choice.function.name);
    if (offered.length === 0)
      throw new RequestError(
        "unsupported_schema",
        `tool_choice names the function ${JSON.stringify(choice.function.name)}, which is not among the tools`,
        "tool_choice",
      );
  }
  const grammar = toolCallsGrammar(offered, request.parallel_tool_calls);
  const mode = choice === "auto" ? "auto" : "force";
  return { grammar, build: (matcher) => new ToolCallConstraint(toolCallsId, vocabSize, mode, matcher) };
}
