import type { ChatMessage } from "../../protocol/chat.ts";
import { encodeWithChatTemplate } from "./chat-template.ts";
import { encodeMistralInstructV1 } from "./mistral-instruct-v1.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Mistral's guardrail prompt, which `safe_prompt: true` puts before the conversation as a system prompt. */
export const MISTRAL_SAFE_PROMPT =
  "Always assist with care, respect, and truth. Respond with utmost utility yet securely. Avoid harmful, unethical, prejudiced, or negative content. Ensure replies promote fairness and positivity.";

export type ChatFormat = "mistral-instruct-v1" | "chat-template";

/**
 * Mistral's v1 format when the checkpoint ships no template (the Mixtral family's format) or
 * a template of that format: "[INST]" written as text (v3 tokenizers make it a control token)
 * and no Llama-2 "<<SYS>>" block. Every other template is rendered as jinja.
 */
export function chatFormat(tokenizer: Tokenizer): ChatFormat {
  const template = tokenizer.chatTemplate;
  if (template === undefined) return "mistral-instruct-v1";
  const instIsText = ![...tokenizer.specialTokens.values()].includes("[INST]");
  return template.includes("[INST]") && !template.includes("<<SYS>>") && instIsText ? "mistral-instruct-v1" : "chat-template";
}

export interface ChatEncodeOptions {
  safePrompt?: boolean;
}

/** The prompt ids of a conversation; throws ChatEncodingError for one the format cannot express. */
export function encodeChat(tokenizer: Tokenizer, messages: ChatMessage[], options: ChatEncodeOptions = {}): number[] {
  const conversation: ChatMessage[] = options.safePrompt ? [{ role: "system", content: MISTRAL_SAFE_PROMPT }, ...messages] : messages;
  return chatFormat(tokenizer) === "mistral-instruct-v1"
    ? encodeMistralInstructV1(tokenizer, conversation)
    : encodeWithChatTemplate(tokenizer, conversation);
}
