import type { ChatMessage, Tool } from "../../protocol/chat.ts";
import { chatEncodingError } from "./chat-error.ts";
import { encodeWithChatTemplate } from "./chat-template.ts";
import { encodeMistralInstructV1 } from "./mistral-instruct-v1.ts";
import { encodeMistralInstructV3, v3ControlIds } from "./mistral-instruct-v3.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Mistral's guardrail prompt, which `safe_prompt: true` puts before the conversation as a system prompt. */
export const MISTRAL_SAFE_PROMPT =
  "Always assist with care, respect, and truth. Respond with utmost utility yet securely. Avoid harmful, unethical, prejudiced, or negative content. Ensure replies promote fairness and positivity.";

export type ChatFormat = "mistral-instruct-v1" | "mistral-instruct-v3" | "chat-template";

/**
 * Mistral's v3 format when the tokenizer has v3's control tokens (tool calling), whatever its
 * template says: mistral-common's segment-wise encoding is what the model was trained on.
 * Mistral's v1 format when the checkpoint ships no template (the Mixtral family's format) or
 * a template of that format: "[INST]" written as text (v3 tokenizers make it a control token)
 * and no Llama-2 "<<SYS>>" block. Every other template is rendered as jinja.
 */
export function chatFormat(tokenizer: Tokenizer): ChatFormat {
  if (v3ControlIds(tokenizer)) return "mistral-instruct-v3";
  const template = tokenizer.chatTemplate;
  if (template === undefined) return "mistral-instruct-v1";
  const instIsText = ![...tokenizer.specialTokens.values()].includes("[INST]");
  return template.includes("[INST]") && !template.includes("<<SYS>>") && instIsText
    ? "mistral-instruct-v1"
    : "chat-template";
}

export interface ChatEncodeOptions {
  safePrompt?: boolean;
  /** The functions the model may call; only the v3 format has a place for them. */
  tools?: Tool[];
}

/** Whether the checkpoint's chat format can offer tools (function calling). */
export function supportsTools(tokenizer: Tokenizer): boolean {
  return chatFormat(tokenizer) === "mistral-instruct-v3";
}

/** The prompt ids of a conversation; throws a RequestError (invalid_messages) for one the format cannot express. */
export function encodeChat(tokenizer: Tokenizer, messages: ChatMessage[], options: ChatEncodeOptions = {}): number[] {
  const conversation: ChatMessage[] = options.safePrompt
    ? [{ role: "system", content: MISTRAL_SAFE_PROMPT }, ...messages]
    : messages;
  const format = chatFormat(tokenizer);
  if (format === "mistral-instruct-v3") return encodeMistralInstructV3(tokenizer, conversation, options.tools);
  if (options.tools?.length) throw chatEncodingError("this model's chat format has no tools (function calling)");
  return format === "mistral-instruct-v1"
    ? encodeMistralInstructV1(tokenizer, conversation)
    : encodeWithChatTemplate(tokenizer, conversation);
}
