import type { TokenLogprob } from "../../protocol/chat.ts";
import type { TokenLogprobs } from "../sampler/logprobs.ts";
import type { Tokenizer } from "../text/tokenizer.ts";

const WORD_START = /\u2581/g;

/**
 * A token as OpenAI's logprobs show it: its text (SentencePiece's "▁" as a space) and that
 * text's UTF-8 bytes; a byte-fallback token is its one byte, written "bytes:\xNN" as OpenAI
 * writes a token that is not valid UTF-8 on its own.
 */
function tokenEntry(tokenizer: Tokenizer, id: number): { token: string; bytes: number[] } {
  const byte = tokenizer.byteValue(id);
  if (byte !== undefined)
    return { token: byte < 0x80 ? String.fromCharCode(byte) : `bytes:\\x${byte.toString(16)}`, bytes: [byte] };
  const token = (tokenizer.piece(id) ?? "").replace(WORD_START, " ");
  return { token, bytes: [...new TextEncoder().encode(token)] };
}

/** A step's logprobs of one position (the model runner's) in the API's shape. */
export function apiLogprobs(tokenizer: Tokenizer, logprobs: TokenLogprobs): TokenLogprob {
  return {
    ...tokenEntry(tokenizer, logprobs.token),
    logprob: logprobs.logprob,
    top_logprobs: logprobs.top.map((top) => ({ ...tokenEntry(tokenizer, top.token), logprob: top.logprob })),
  };
}
