import type { Tokenizer } from "./tokenizer.ts";

/** What TextDecoder (inside the byte-fallback decoder) yields for bytes of a character not yet complete. */
const INCOMPLETE = "\uFFFD";

/** How many tokens of context before the first new one are decoded with it (see `constructor`). */
const CONTEXT_TOKENS = 4;

/**
 * Token ids in, text deltas out, for streaming. The deltas concatenate to exactly
 * `tokenizer.decode(ids)` (or, after `context`, to what the ids add to the decoded context),
 * and never end inside a character: a byte-fallback token such as <0xF0> is held until its
 * character's last byte arrives.
 *
 * The method is the one of Hugging Face's text-generation-inference and vLLM: decode a short
 * window of recent tokens twice, without and with the unread ones, and emit the difference.
 * Decoding from the window start rather than from each token alone is what keeps
 * SentencePiece's word-initial "▁" right: the decoder strips a leading space only at the start
 * of what it decodes, which is the same token in both decodes.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[];
  /** Start of the decode window. */
  private prefixOffset: number;
  /** Tokens before this one have had their text emitted. */
  private readOffset: number;

  /** `context`: ids already shown before the first pushed one (e.g. an assistant prefix being continued). */
  constructor(
    private readonly tokenizer: Tokenizer,
    context: readonly number[] = [],
  ) {
    this.ids = [...context];
    this.readOffset = context.length;
    this.prefixOffset = Math.max(0, context.length - CONTEXT_TOKENS);
  }

  /** Adds one token; returns the text it completes (often "", e.g. in the middle of a multi-byte character). */
  push(id: number): string {
    this.ids.push(id);
    return this.advance(false);
  }

  /** The text still held back at the end of generation: bytes that never completed a character decode to U+FFFD, as in a full decode. */
  flush(): string {
    return this.advance(true);
  }

  private advance(final: boolean): string {
    const window = this.ids.slice(this.prefixOffset);
    const before = this.tokenizer.decode(window.slice(0, this.readOffset - this.prefixOffset));
    const after = this.tokenizer.decode(window);
    if (after.length <= before.length || (!final && after.endsWith(INCOMPLETE))) return "";
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return after.slice(before.length);
  }
}
