import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { loadTokenizer, TokenizerError } from "../../backend/text/tokenizer.ts";
import { golden, reference, referenceFile } from "./support/text-reference.ts";

const tokenizer = await loadTokenizer(reference);

describe("tokenizer from a checkpoint folder", () => {
  it("reads the special tokens and the chat template from tokenizer_config.json", () => {
    expect([tokenizer.bosId, tokenizer.eosId, tokenizer.unkId]).toEqual([1, 2, 0]);
    expect([tokenizer.bosToken, tokenizer.eosToken, tokenizer.unkToken]).toEqual(["<s>", "</s>", "<unk>"]);
    expect(tokenizer.chatTemplate).toContain("[INST]");
  });

  it("encodes every golden line as SentencePiece does ([1] + encode)", () => {
    expect(golden.length).toBeGreaterThan(30);
    for (const { text, ids } of golden) expect(tokenizer.encode(text, { bos: true }), text).toEqual(ids);
  });

  it("decode(encode(x)) gives x back", () => {
    for (const { text } of golden) expect(tokenizer.decode(tokenizer.encode(text)), text).toBe(text);
  });

  it("encodes word by word exactly as the library encodes the whole text at once", () => {
    // moxie adds a word split (it is ~7x faster); the library without it is the reference.
    const whole = new HfTokenizer({ ...JSON.parse(referenceFile("tokenizer.json")), added_tokens: [] }, {});
    const pieces = [
      "a",
      "the",
      " ",
      "  ",
      "\n",
      "\t",
      "▁",
      "Ünïcødé",
      "今天",
      "🌧️",
      "👩‍👧",
      "don't",
      "x1",
      "   end",
      ".",
      "—",
      "\u00a0",
    ];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 300; round++) {
      const text = Array.from(
        { length: 1 + Math.floor(random() * 30) },
        () => pieces[Math.floor(random() * pieces.length)],
      ).join("");
      expect(tokenizer.encode(text), JSON.stringify(text)).toEqual(
        whole.encode(text, { add_special_tokens: false }).ids,
      );
    }
  });

  it("keeps a special token's spelling inside text as literal text, like SentencePiece", () => {
    const ids = tokenizer.encode("a</s>b<s>");
    expect(ids).not.toContain(1);
    expect(ids).not.toContain(2);
    expect(tokenizer.decode(ids)).toBe("a</s>b<s>");
  });

  it("encodes the empty string to nothing (plus BOS if asked) and decodes nothing to the empty string", () => {
    expect(tokenizer.encode("")).toEqual([]);
    expect(tokenizer.encode("", { bos: true })).toEqual([1]);
    expect(tokenizer.decode([])).toBe("");
  });

  it("drops special tokens when decoding", () => {
    expect(tokenizer.decode([1, ...tokenizer.encode("The end"), 2])).toBe("The end");
  });

  it("refuses a folder without tokenizer.json, and broken files, naming the problem", async () => {
    const dir = await mkdtemp(join(tmpdir(), "moxie-tokenizer-"));
    await expect(loadTokenizer(dir)).rejects.toThrow(/has no tokenizer\.json/);
    await writeFile(join(dir, "tokenizer.json"), "{ not json");
    await expect(loadTokenizer(dir)).rejects.toThrow(TokenizerError);
    await writeFile(join(dir, "tokenizer.json"), referenceFile("tokenizer.json"));
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|end|>" }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/"<\|end\|>", which is not in the vocabulary/);
  });

  it("works without tokenizer_config.json (no special tokens known then)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "moxie-tokenizer-"));
    await writeFile(join(dir, "tokenizer.json"), referenceFile("tokenizer.json"));
    const bare = await loadTokenizer(dir);
    expect(bare.bosId).toBeUndefined();
    expect(bare.encode("Hello", { bos: true })).toEqual(tokenizer.encode("Hello"));
  });
});
