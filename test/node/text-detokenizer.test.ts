import { describe, expect, it } from "vitest";
import { IncrementalDetokenizer } from "../../backend/text/detokenizer.ts";
import { loadTokenizer, Tokenizer } from "../../backend/text/tokenizer.ts";
import { golden, reference } from "./support/text-reference.ts";

const tokenizer = await loadTokenizer(reference);

/** Feeds ids one by one; returns every delta (the flush last). */
function stream(ids: number[], context: number[] = [], by: Tokenizer = tokenizer): string[] {
  const detokenizer = new IncrementalDetokenizer(by, context);
  return [...ids.map((id) => detokenizer.push(id)), detokenizer.flush()];
}

/** A string that ends inside a UTF-16 surrogate pair, or holds U+FFFD, splits a character. */
const splitsCharacter = (text: string) => /[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]|\uFFFD/.test(text);

const samples = [
  "Ça coûte 5 € — déjà payé, merci !",
  "今天天气很好，我们去公园散步吧。",
  "Weather: ☀️ ⛅ 🌧️ ❄️ and 👩‍👩‍👧‍👦 family",
  "  leading spaces\n\tand tabs  ",
  "𓀀𓀁𓂀 Ελληνικά русский",
];

describe("incremental detokenizer", () => {
  it("streams deltas that join to the full decode, for every golden line and with emoji, CJK and accents", () => {
    for (const text of [...golden.map((line) => line.text), ...samples]) {
      const ids = tokenizer.encode(text, { bos: true });
      const deltas = stream(ids);
      expect(deltas.join(""), text).toBe(tokenizer.decode(ids));
      expect(deltas.join(""), text).toBe(text);
      for (const delta of deltas) expect(splitsCharacter(delta), `${text}: ${JSON.stringify(delta)}`).toBe(false);
    }
  });

  it("holds byte-fallback tokens until the character is complete", () => {
    const ids = tokenizer.encode("🌧");
    // 🌧 is F0 9F 8C A7 in UTF-8 and has no piece in the vocabulary: "▁", then four byte tokens (<0x00> is id 3).
    expect(ids).toEqual([28705, ...[0xf0, 0x9f, 0x8c, 0xa7].map((byte) => byte + 3)]);
    const detokenizer = new IncrementalDetokenizer(tokenizer);
    const deltas = ids.map((id) => detokenizer.push(id));
    expect(deltas).toEqual(["", "", "", "", "🌧"]);
  });

  it("drops the leading space of the first word as a full decode does, and keeps it after context", () => {
    const ids = tokenizer.encode("Hello world");
    expect(stream(ids)[0]).toBe("Hello");
    const context = tokenizer.encode("Say:");
    const deltas = stream(ids, context);
    expect(deltas[0]).toBe(" Hello");
    expect(deltas.join("")).toBe(tokenizer.decode([...context, ...ids]).slice(tokenizer.decode(context).length));
  });

  it("shows bytes that can never form a character at once, as U+FFFD like a full decode", () => {
    // A lone continuation byte (0x80) is invalid whatever follows; F0 9F starts a character that 98 80 completes.
    const byte = (value: number) => value + 3;
    const detokenizer = new IncrementalDetokenizer(tokenizer, tokenizer.encode("x"));
    expect(detokenizer.push(byte(0x80))).toBe("\uFFFD");
    expect([byte(0xf0), byte(0x9f), byte(0x98)].map((id) => detokenizer.push(id))).toEqual(["", "", ""]);
    expect(detokenizer.push(byte(0x80))).toBe("😀");
  });

  it("waits for the rest of a character with byte-level BPE tokenizers too (parts of characters inside tokens)", () => {
    // GPT-2's byte ↔ printable-character table; no merges, so every byte is one token.
    const printable = (byte: number) => (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
    let next = 256;
    const vocab = Object.fromEntries(
      Array.from({ length: 256 }, (_, byte) => [String.fromCodePoint(printable(byte) ? byte : next++), byte]),
    );
    const byteLevel = Tokenizer.fromJson({
      added_tokens: [],
      normalizer: null,
      post_processor: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: "BPE", vocab, merges: [], ignore_merges: false },
    });
    const ids = byteLevel.encode("ok 😀 今");
    expect(ids).toHaveLength(11);
    const deltas = stream(ids, [], byteLevel);
    expect(deltas.join("")).toBe("ok 😀 今");
    expect(deltas.filter((delta) => delta !== "")).toEqual(["o", "k", " ", "😀", " ", "今"]);
  });

  it("emits nothing for special tokens", () => {
    expect(stream([1, ...tokenizer.encode("ok"), 2]).join("")).toBe("ok");
  });

  it("keeps the invariant on random token sequences rich in byte tokens (invalid UTF-8 included)", () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 300; round++) {
      const ids = Array.from({ length: 1 + Math.floor(random() * 24) }, () =>
        random() < 0.6 ? 3 + Math.floor(random() * 256) : 3 + Math.floor(random() * 31997),
      );
      const deltas = stream(ids);
      expect(deltas.join(""), ids.join(",")).toBe(tokenizer.decode(ids));
      for (const delta of deltas) expect(/[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/.test(delta), ids.join(",")).toBe(false);
    }
  });
});
