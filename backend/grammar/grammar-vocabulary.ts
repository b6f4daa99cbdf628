import type { Tokenizer } from "../text/tokenizer.ts";

/** Whether text has a character below U+0020 (JSON forbids them raw in strings). */
const hasControlCharacter = (text: string) => [...text].some((char) => char.charCodeAt(0) < 0x20);

/**
 * xgrammar's view of the vocabulary, one piece per token id. Tokens given as "" are never allowed
 * by a grammar: the control tokens; the byte-fallback tokens of non-ASCII bytes, which xgrammar
 * 0.1.27 accepts in sequences that are not valid UTF-8 (seen as "\uFFFD\uFFFD" in a string it had
 * bounded by maxLength); and tokens with control characters, which its bounded strings admit
 * although JSON forbids them raw (the grammars write no whitespace but ", " and ": "). So
 * characters with no token of their own cannot appear in constrained output.
 */
export function grammarVocabulary(tokenizer: Tokenizer, vocabSize: number): string[] {
  const excluded = (id: number) => {
    const byte = tokenizer.byteValue(id);
    if (byte !== undefined) return byte < 0x20 || byte >= 0x80;
    return tokenizer.specialTokens.has(id) || hasControlCharacter(tokenizer.piece(id) ?? "");
  };
  return Array.from({ length: vocabSize }, (_, id) => (excluded(id) ? "" : (tokenizer.piece(id) ?? "")));
}
