import type { Tokenizer } from "./tokenizer.ts";

/** What the decoder shows for bytes that are not (yet) a character. */
const REPLACEMENT_CHARACTER = "\uFFFD";

/** How many tokens of context before the first new one are decoded with it (see the class comment). */
const CONTEXT_TOKENS = 4;

/** Longest start of a UTF-8 character that is not a character yet: a 4-byte lead and two continuations. */
const MAX_INCOMPLETE_BYTES = 3;

/** Bytes a UTF-8 sequence starting with `lead` needs (0: not a lead byte). */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Token ids in, text deltas out, for streaming. The deltas concatenate to exactly
 * `tokenizer.decode(ids)` (or, after `context`, to what the ids add to the decoded context),
 * and never end inside a character: byte-fallback tokens such as <0xF0> are held until their
 * character's last byte arrives.
 *
 * The method is the one of Hugging Face's text-generation-inference and vLLM: decode a short
 * window of recent tokens twice, without and with the unread ones, and emit the difference.
 * Decoding from the window start rather than each token alone keeps SentencePiece's
 * word-initial "▁" right: the decoder strips a leading space only at the start of what it
 * decodes, which is the same token in both decodes. Which tokens to hold is decided from the
 * bytes themselves, so held text is bounded (at most three byte tokens) and bytes that can
 * never form a character are shown as U+FFFD at once, as a full decode shows them.
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
    return this.emitUpTo(this.ids.length - this.incompleteTail(), false);
  }

  /** The text still held back when generation ends: bytes that never completed a character, as U+FFFD like a full decode. */
  flush(): string {
    return this.emitUpTo(this.ids.length, true);
  }

  private emitUpTo(end: number, final: boolean): string {
    if (end <= this.readOffset) return "";
    const before = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const after = this.tokenizer.decode(this.ids.slice(this.prefixOffset, end));
    if (after.length <= before.length) return "";
    // Byte-level BPE tokenizers (no byte-fallback tokens) carry parts of a character inside
    // ordinary tokens, which decode to U+FFFD alone: give the rest a few tokens to arrive.
    const waiting =
      end - this.readOffset <= MAX_INCOMPLETE_BYTES && this.tokenizer.byteValue(this.ids[end - 1]) === undefined;
    if (!final && waiting && after.endsWith(REPLACEMENT_CHARACTER)) return "";
    this.prefixOffset = this.readOffset;
    this.readOffset = end;
    return after.slice(before.length);
  }

  /**
   * How many trailing unread tokens are byte-fallback tokens that start a character without
   * finishing it. Holding back from a lead byte is safe: UTF-8 resynchronises there, so the
   * text before it decodes the same whatever follows.
   */
  private incompleteTail(): number {
    const limit = Math.min(MAX_INCOMPLETE_BYTES, this.ids.length - this.readOffset);
    for (let count = 1; count <= limit; count++) {
      const byte = this.tokenizer.byteValue(this.ids[this.ids.length - count]);
      if (byte === undefined || byte < 0x80) return 0;
      if (byte < 0xc0) continue; // a continuation byte: look further back for the lead
      return sequenceLength(byte) > count ? count : 0;
    }
    return 0;
  }
}
