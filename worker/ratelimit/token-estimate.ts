/**
 * Token counts before the backend has tokenized anything: about 4 characters per token for
 * Mistral's tokenizer on English text. It only sizes the reservation; settlement replaces it
 * with the backend's exact usage, so the estimate never makes the minute's count inexact.
 */
const CHARS_PER_TOKEN = 4;
/** Role and control tokens of the instruct format, per message. */
const PER_MESSAGE_OVERHEAD = 4;

export function estimatePromptTokens(texts: string[]): number {
  return texts.reduce((sum, text) => sum + Math.ceil(text.length / CHARS_PER_TOKEN) + PER_MESSAGE_OVERHEAD, 0);
}

/** Reserved for the completion when the request sets no max_tokens. */
export const DEFAULT_COMPLETION_RESERVATION = 1024;
