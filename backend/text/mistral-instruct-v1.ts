import type { ChatMessage, MessageContent } from "../../protocol/chat.ts";
import { chatEncodingError } from "./chat-error.ts";
import type { Tokenizer } from "./tokenizer.ts";

/**
 * Mistral's v1 instruct encoding (mistral-common's InstructTokenizerV1, the format of
 * Mixtral-8x7B-Instruct), hand-written because no JS library implements it. It is
 * segment-wise: every turn is encoded on its own, so `[INST]` always starts a word the way
 * SentencePiece saw it in training; rendering a template to one string and encoding that gives
 * other ids. Validation and normalisation follow mistral-common's serving mode.
 */

/** What mistral-common joins texts with: several system prompts, same-role turns, text chunks. */
export const JOIN = "\n\n";

interface Turn {
  role: "user" | "assistant";
  text: string;
  prefix: boolean;
}

/** The non-empty texts of a run of contents, joined (mistral-common's chunk aggregation). */
export function joinedText(contents: (MessageContent | null | undefined)[]): string {
  const texts = contents.flatMap((content) =>
    content == null ? [] : typeof content === "string" ? [content] : content.map((chunk) => chunk.text),
  );
  return texts.filter((text) => text !== "").join(JOIN);
}

function validate(messages: ChatMessage[]): void {
  if (messages.length === 0) throw chatEncodingError("the conversation must have at least one message");
  for (const message of messages) {
    if (message.role === "tool" || (message.role === "assistant" && message.tool_calls?.length)) {
      throw chatEncodingError("this model's chat format (Mistral instruct v1) has no tool calls or tool messages");
    }
  }
  const last = messages[messages.length - 1];
  if (messages.length === 1 && last.role !== "user" && last.role !== "system") {
    throw chatEncodingError("a conversation of one message must be a user or system message");
  }
  if (messages.length > 1 && last.role !== "user" && !(last.role === "assistant" && last.prefix)) {
    throw chatEncodingError(
      `the last message must be a user message or an assistant message with prefix: true, got ${last.role}`,
    );
  }
  messages.forEach((message, index) => {
    if (message.role === "system" && messages[index - 1]?.role === "assistant") {
      throw chatEncodingError(`message ${index}: a system message cannot follow an assistant message`);
    }
    if (message.role !== "assistant") return;
    if (joinedText([message.content]) === "") throw chatEncodingError(`message ${index} (assistant) has no content`);
    if (message.prefix && index !== messages.length - 1) {
      throw chatEncodingError(`message ${index}: only the last message can be an assistant message with prefix: true`);
    }
  });
}

/** Merges runs of same-role messages and takes the system prompts out, as mistral-common's normaliser does. */
function normalize(messages: ChatMessage[]): { systemPrompt: string; turns: Turn[] } {
  const systemPrompt = joinedText(
    messages.filter((message) => message.role === "system").map((message) => message.content),
  );
  const turns: Turn[] = [];
  // A system message ends a run without producing a turn, so user/system/user stays two user turns.
  let run: ChatMessage[] = [];
  const flush = () => {
    const role = run[0]?.role;
    if (role === "user" || role === "assistant") {
      turns.push({
        role,
        text: joinedText(run.map((message) => message.content)),
        prefix: run.some((message) => message.role === "assistant" && message.prefix),
      });
    }
    run = [];
  };
  for (const message of messages) {
    if (run.length > 0 && run[0].role !== message.role) flush();
    run.push(message);
  }
  flush();
  if (turns[0]?.role !== "user") turns.unshift({ role: "user", text: "", prefix: false });
  return { systemPrompt, turns };
}

export function encodeMistralInstructV1(tokenizer: Tokenizer, messages: ChatMessage[]): number[] {
  const { bosId, eosId } = tokenizer;
  if (bosId === undefined || eosId === undefined) {
    throw chatEncodingError("the tokenizer has no BOS or EOS token, which Mistral's instruct format needs");
  }
  validate(messages);
  const { systemPrompt, turns } = normalize(messages);
  const ids = [bosId];
  turns.forEach((turn, index) => {
    if (turn.role === "user") {
      // The system prompt goes into the first user turn (index 0 after normalisation).
      const text = index === 0 && systemPrompt !== "" ? systemPrompt + JOIN + turn.text : turn.text;
      ids.push(...tokenizer.encode(`[INST] ${text} [/INST]`));
    } else {
      ids.push(...tokenizer.encode(turn.text));
      if (!turn.prefix) ids.push(eosId);
    }
  });
  return ids;
}
