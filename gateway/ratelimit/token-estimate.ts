/**
 * An upper bound on a prompt's tokens before the backend has tokenized anything, so no prompt can
 * be admitted for fewer tokens than it costs. Every token of Mistral's tokenizers covers at least
 * one UTF-8 byte of the text (byte fallback), so the text's bytes bound its tokens; the instruct
 * format adds BOS/EOS, [INST] and [/INST] and spacing around each message. It only sizes the
 * reservation: settlement replaces it with the backend's count.
 */
const PER_MESSAGE_OVERHEAD = 16;

const encoder = new TextEncoder();

export function estimatePromptTokens(texts: string[]): number {
  return texts.reduce((sum, text) => sum + encoder.encode(text).byteLength + PER_MESSAGE_OVERHEAD, 0);
}
