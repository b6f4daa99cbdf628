import type { ChatMessage, Tool, ToolCall } from "../../protocol/chat.ts";
import { chatEncodingError } from "./chat-error.ts";
import { JOIN, joinedText } from "./mistral-instruct-v1.ts";
import { pythonJson } from "./python-json.ts";
import type { Tokenizer } from "./tokenizer.ts";

/**
 * Mistral's v3 instruct encoding (mistral-common's InstructTokenizerV3: Mistral-7B-Instruct-v0.3,
 * Mixtral-8x22B-Instruct), the one with tool calling, hand-written because no JS library has it.
 * Control tokens ([INST], [TOOL_CALLS], …) are ids put between separately encoded texts, so user
 * text can never become one. Unlike v1, the system prompt and the tool list go with the last user
 * message; tool calls and results are encoded wherever they are (v3 keeps the tool history).
 */

export const V3_CONTROL = [
  "[INST]",
  "[/INST]",
  "[TOOL_CALLS]",
  "[AVAILABLE_TOOLS]",
  "[/AVAILABLE_TOOLS]",
  "[TOOL_RESULTS]",
  "[/TOOL_RESULTS]",
] as const;
type Control = (typeof V3_CONTROL)[number];

/** The ids of v3's control tokens in this tokenizer, or undefined when it is not a v3 tokenizer. */
export function v3ControlIds(tokenizer: Tokenizer): Record<Control, number> | undefined {
  const special = new Map([...tokenizer.specialTokens].map(([id, piece]) => [piece, id]));
  if (!V3_CONTROL.every((piece) => special.has(piece))) return undefined;
  return Object.fromEntries(V3_CONTROL.map((piece) => [piece, special.get(piece)!])) as Record<Control, number>;
}

type Turn =
  | { role: "user"; text: string }
  | { role: "assistant"; text: string; toolCalls: ToolCall[]; prefix: boolean }
  | { role: "tool"; content: string; callId: string };

/** A string that holds JSON is put in as the value it encodes, as mistral-common does with arguments and results. */
function jsonValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function validate(messages: ChatMessage[]): void {
  const last = messages[messages.length - 1];
  if (last.role === "system" && messages.length > 1)
    throw chatEncodingError(
      "the last message must be a user or tool message, or an assistant message with prefix: true, got system",
    );
  if (last.role === "assistant" && !last.prefix)
    throw chatEncodingError(
      "the last message must be a user or tool message, or an assistant message with prefix: true, got assistant",
    );
  messages.forEach((message, index) => {
    if (message.role === "tool" && !message.tool_call_id)
      throw chatEncodingError(`message ${index} (tool) needs the tool_call_id it answers`);
    if (message.role !== "assistant") return;
    if (!message.tool_calls?.length && joinedText([message.content]) === "")
      throw chatEncodingError(`message ${index} (assistant) has neither content nor tool calls`);
    if (message.prefix && index !== messages.length - 1)
      throw chatEncodingError(`message ${index}: only the last message can be an assistant message with prefix: true`);
    if (message.prefix && message.tool_calls?.length)
      throw chatEncodingError(`message ${index}: an assistant message with prefix: true cannot have tool calls`);
  });
}

/** mistral-common's normaliser: system prompts taken out, runs of user (or assistant) messages merged, tool messages kept one by one. */
function normalize(messages: ChatMessage[]): { systemPrompt: string; turns: Turn[] } {
  const systemPrompt = joinedText(
    messages.filter((message) => message.role === "system").map((message) => message.content),
  );
  const turns: Turn[] = [];
  let previous: ChatMessage["role"] | undefined;
  for (const message of messages) {
    const last = turns[turns.length - 1];
    const merges = previous === message.role && last?.role === message.role;
    previous = message.role;
    if (message.role === "system") continue;
    if (message.role === "tool") {
      turns.push({ role: "tool", content: joinedText([message.content]), callId: message.tool_call_id! });
    } else if (message.role === "user") {
      const text = joinedText([message.content]);
      if (merges && last.role === "user") last.text = joinedText([last.text, text]);
      else turns.push({ role: "user", text });
    } else {
      const turn = {
        role: "assistant" as const,
        text: joinedText([message.content]),
        toolCalls: message.tool_calls ?? [],
        prefix: message.prefix,
      };
      if (merges && last.role === "assistant")
        Object.assign(last, {
          text: joinedText([last.text, turn.text]),
          toolCalls: [...last.toolCalls, ...turn.toolCalls],
          prefix: turn.prefix,
        });
      else turns.push(turn);
    }
  }
  return { systemPrompt, turns };
}

/** A tool as mistral-common dumps it: type, then function with name, description ("" if none) and parameters. */
function toolEntry(tool: Tool): unknown {
  const { name, description, parameters } = tool.function;
  return { type: "function", function: { name, description: description ?? "", parameters } };
}

function toolCallEntry(call: ToolCall): unknown {
  const { name, arguments: args } = call.function;
  // mistral-common writes the id unless it is missing or "null".
  return {
    name,
    arguments: typeof args === "string" ? jsonValue(args) : args,
    id: call.id === "null" ? undefined : call.id,
  };
}

export function encodeMistralInstructV3(tokenizer: Tokenizer, messages: ChatMessage[], tools: Tool[] = []): number[] {
  const control = v3ControlIds(tokenizer);
  const { bosId, eosId } = tokenizer;
  if (!control || bosId === undefined || eosId === undefined)
    throw chatEncodingError("the tokenizer lacks the BOS, EOS or control tokens of Mistral's v3 format");
  validate(messages);
  const { systemPrompt, turns } = normalize(messages);
  const lastUser = turns.findLastIndex((turn) => turn.role === "user");
  const ids = [bosId];
  turns.forEach((turn, index) => {
    if (turn.role === "user") {
      if (index === lastUser && tools.length > 0)
        ids.push(
          control["[AVAILABLE_TOOLS]"],
          ...tokenizer.encode(pythonJson(tools.map(toolEntry))),
          control["[/AVAILABLE_TOOLS]"],
        );
      const text = index === lastUser && systemPrompt !== "" ? systemPrompt + JOIN + turn.text : turn.text;
      ids.push(control["[INST]"], ...tokenizer.encode(text), control["[/INST]"]);
    } else if (turn.role === "tool") {
      const result = { content: jsonValue(turn.content), call_id: turn.callId };
      ids.push(control["[TOOL_RESULTS]"], ...tokenizer.encode(pythonJson(result)), control["[/TOOL_RESULTS]"]);
    } else if (turn.toolCalls.length > 0) {
      ids.push(control["[TOOL_CALLS]"], ...tokenizer.encode(pythonJson(turn.toolCalls.map(toolCallEntry))), eosId);
    } else {
      // mistral-common strips the trailing spaces of an assistant's text.
      ids.push(...tokenizer.encode(turn.text.replace(/ +$/, "")));
      if (!turn.prefix) ids.push(eosId);
    }
  });
  return ids;
}
