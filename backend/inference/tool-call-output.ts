import { randomInt } from "node:crypto";
import * as z from "zod";
import type { ToolCall } from "../../protocol/chat.ts";

const ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A tool call id as Mistral makes them: 9 random letters and digits. */
export function toolCallId(): string {
  return Array.from({ length: 9 }, () => ID_CHARACTERS[randomInt(ID_CHARACTERS.length)]).join("");
}

/** One call as the model writes it after [TOOL_CALLS]. */
const ModelToolCall = z.object({
  name: z.string(),
  arguments: z.custom<object>((value) => typeof value === "object" && value !== null),
});
/** The model writes a list of calls, or sometimes a single call. */
const ModelToolCalls = z.union([z.array(ModelToolCall), ModelToolCall]);

/** A parsed call list: the model's [{"name", "arguments"}] as the API's tool calls; undefined if it is not one. */
function parseCalls(text: string): ToolCall[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ModelToolCalls.safeParse(value);
  if (!parsed.success) return undefined;
  const calls = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
  if (calls.length === 0) return undefined;
  return calls.map((call, index) => ({
    id: toolCallId(),
    type: "function" as const,
    function: { name: call.name, arguments: JSON.stringify(call.arguments) },
    index,
  }));
}

/**
 * One choice's split between content and tool calls: text before [TOOL_CALLS] is content and
 * streams as it comes; what follows is held back and parsed into tool calls when the choice ends
 * (a list that does not parse, cut by max_tokens say, is given back as content).
 */
export class ToolCallOutput {
  /** The text after [TOOL_CALLS], once the model wrote it. */
  private calls: string | undefined;

  constructor(private readonly toolCallsId: number | undefined) {}

  /** The content to show of a token's text (undefined token: text flushed at the end). */
  route(token: number | undefined, text: string): string {
    if (this.calls === undefined) {
      if (token !== undefined && token === this.toolCallsId) this.calls = "";
      return text;
    }
    this.calls += text;
    return "";
  }

  /** At the end: the tool calls, or the held text as content when there are none. */
  finish(): { toolCalls: ToolCall[] } | { text: string } {
    if (this.calls === undefined) return { text: "" };
    const toolCalls = parseCalls(this.calls.trim());
    return toolCalls ? { toolCalls } : { text: this.calls };
  }
}
