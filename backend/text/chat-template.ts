import { Template } from "@huggingface/jinja";
import type { ChatMessage } from "../../protocol/chat.ts";
import { chatEncodingError } from "./chat-error.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Parsed templates, by source: a server renders the same one for every request. */
const parsed = new Map<string, Template>();

function compile(source: string): Template {
  let template = parsed.get(source);
  if (!template) {
    try {
      template = new Template(source);
    } catch (error) {
      throw chatEncodingError(`the tokenizer's chat_template does not parse: ${(error as Error).message}`);
    }
    parsed.set(source, template);
  }
  return template;
}

/** The text the final message ends with, for cutting a continued message out of the rendering. */
function finalText(message: ChatMessage): string {
  const content = message.content;
  if (typeof content === "string") return content;
  return content?.at(-1)?.text ?? "";
}

/**
 * A conversation through the checkpoint's jinja chat_template, tokenized as transformers'
 * apply_chat_template(tokenize=True) does: the template writes the special tokens itself.
 * An assistant message with `prefix: true` last is continued the way transformers'
 * continue_final_message does it: rendered without a generation prompt, cut after its text.
 */
export function encodeWithChatTemplate(tokenizer: Tokenizer, messages: ChatMessage[]): number[] {
  if (tokenizer.chatTemplate === undefined) throw chatEncodingError("the tokenizer has no chat_template");
  const last = messages.at(-1);
  const continuing = last?.role === "assistant" && last.prefix;
  let text: string;
  try {
    text = compile(tokenizer.chatTemplate).render({
      messages,
      bos_token: tokenizer.bosToken ?? "",
      eos_token: tokenizer.eosToken ?? "",
      unk_token: tokenizer.unkToken ?? "",
      add_generation_prompt: !continuing,
    });
  } catch (error) {
    throw chatEncodingError(`the chat template refused the conversation: ${(error as Error).message}`);
  }
  if (continuing) {
    const prefix = finalText(last).trim();
    const end = text.lastIndexOf(prefix);
    if (prefix === "" || end < 0)
      throw chatEncodingError("the chat template does not render the prefix message's text, so it cannot be continued");
    text = text.slice(0, end + prefix.length);
  }
  return tokenizer.encodeTemplated(text);
}
