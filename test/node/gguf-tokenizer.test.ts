import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { ChatMessage } from "../../protocol/chat.ts";
import { readGguf } from "../../backend/engine/checkpoint/gguf/gguf-file.ts";
import { chatFormat, encodeChat } from "../../backend/text/chat-encoding.ts";
import { ggufTokenizerFiles, sentencePieceMerges } from "../../backend/text/gguf-tokenizer.ts";
import { loadTokenizer, TokenizerError } from "../../backend/text/tokenizer.ts";
import { writeGguf, type GgufMetadataType, type GgufMetadataValue } from "./support/gguf-writer.ts";
import { chatSample, golden, reference, referenceFile } from "./support/text-reference.ts";

const fixtures = "../shared/fixtures-gguf";
const fixture = join(fixtures, "micro-q8_0.gguf");
const referenceTokenizer = await loadTokenizer(reference);
const messages = (input: unknown[]) => z.array(ChatMessage).parse(input);

/** Text where the tokenizers could part ways: control-token spellings, bytes, spaces, scripts. */
const hardTexts = [
  "</s> and <s> typed as text stay text",
  "<unk><s>[INST] hi [/INST] yo</s>",
  "🦙 llamas 🌧️ 👩‍👧 and a \u0001 control byte",
  " one leading space",
  "   three leading, two trailing  ",
  "\n\nnewlines first\n",
  "\ttab\u00a0nbsp\u200bzero-width",
  "今天天气很好。Ünïcødé ꙮ 𝔘𝔫𝔦",
  "▁ the marker itself ▁▁",
];

describe.each(["micro-q4_k_m.gguf", "micro-q8_0.gguf"])("the tokenizer inside %s", (name) => {
  const tokenizer = loadTokenizer(join(fixtures, name));

  it("encodes every golden line as SentencePiece and the reference tokenizer.json do", async () => {
    const gguf = await tokenizer;
    for (const { text, ids } of golden) {
      expect(gguf.encode(text, { bos: true }), text).toEqual(ids);
      expect(gguf.encode(text), text).toEqual(referenceTokenizer.encode(text));
    }
  });

  it("gives back the text it encoded", async () => {
    const gguf = await tokenizer;
    for (const { text } of golden) expect(gguf.decode(gguf.encode(text)), text).toBe(text);
  });

  it("treats special tokens, byte fallback, leading spaces and unicode as the reference does", async () => {
    const gguf = await tokenizer;
    for (const text of hardTexts) {
      expect(gguf.encode(text), text).toEqual(referenceTokenizer.encode(text));
      expect(gguf.encodeTemplated(text), text).toEqual(referenceTokenizer.encodeTemplated(text));
      expect(gguf.decode(gguf.encode(text)), text).toBe(referenceTokenizer.decode(referenceTokenizer.encode(text)));
    }
    expect(gguf.encode("🦙").map((id) => gguf.piece(id))).toEqual(["▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]);
    expect(gguf.encodeTemplated("<s>[INST]")[0]).toBe(1);
    expect(gguf.encode("<s>")).not.toContain(1);
  });

  it("names BOS, EOS and UNK from the ids and has no chat template, so chats take Mistral's v1 format", async () => {
    const gguf = await tokenizer;
    expect([gguf.bosId, gguf.eosId, gguf.unkId]).toEqual([1, 2, 0]);
    expect([gguf.bosToken, gguf.eosToken, gguf.unkToken]).toEqual(["<s>", "</s>", "<unk>"]);
    expect([...gguf.specialTokens.keys()]).toEqual([0, 1, 2]);
    expect(gguf.chatTemplate).toBeUndefined();
    expect(chatFormat(gguf)).toBe("mistral-instruct-v1");
  });

  it("encodes a conversation as mistral-common and the reference folder's tokenizer do", async () => {
    const gguf = await tokenizer;
    const conversation = messages(chatSample.request.messages);
    expect(encodeChat(gguf, conversation)).toEqual(chatSample.ids);
    const withSystem = messages([{ role: "system", content: "Be brief." }, ...chatSample.request.messages]);
    expect(encodeChat(gguf, withSystem, { safePrompt: true })).toEqual(
      encodeChat(referenceTokenizer, withSystem, { safePrompt: true }),
    );
  });
});

describe("the Hugging Face files made from a GGUF's vocabulary", () => {
  const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(readGguf(fixture));
  const theirs = JSON.parse(referenceFile("tokenizer.json"));

  it("are the reference tokenizer.json: vocabulary, added tokens, normalizer, decoder, byte fallback", () => {
    const ours = tokenizerJson as typeof theirs;
    // Merges are written as [left, right] pairs (a piece may hold a space); the reference spells them "left right".
    const merges = ours.model.merges.map((pair: string[]) => pair.join(" "));
    expect({ ...ours, model: { ...ours.model, merges } }).toEqual(theirs);
  });

  it("derive the reference's merges, in the same order, from the pieces and their scores", () => {
    const { metadata } = readGguf(fixture);
    const pieces = metadata.get("tokenizer.ggml.tokens") as string[];
    const merges = sentencePieceMerges(pieces, metadata.get("tokenizer.ggml.scores") as number[]);
    expect(merges).toHaveLength(58980);
    expect(merges.map((pair) => pair.join(" "))).toEqual(theirs.model.merges);
  });

  it("carry the reference config's special tokens and BOS/EOS flags", () => {
    const config = JSON.parse(referenceFile("tokenizer_config.json"));
    const fields = ["add_bos_token", "add_eos_token", "added_tokens_decoder", "bos_token", "eos_token", "unk_token"];
    const pick = (object: object) => Object.fromEntries(Object.entries(object).filter(([key]) => fields.includes(key)));
    expect(pick(tokenizerConfig)).toEqual(pick(config));
    expect(tokenizerConfig).toMatchObject({ pad_token: null, legacy: true, tokenizer_class: "LlamaTokenizer" });
  });
});

type Entry = readonly [string, GgufMetadataType, GgufMetadataValue];

/** The fixture's tokenizer metadata, with keys replaced or added. */
function tokenizerMetadata(changes: Entry[] = []): Entry[] {
  const { metadata } = readGguf(fixture);
  const base: Entry[] = [
    ["general.architecture", "string", "llama"],
    ["tokenizer.ggml.model", "string", "llama"],
    ["tokenizer.ggml.tokens", "string[]", metadata.get("tokenizer.ggml.tokens") as string[]],
    ["tokenizer.ggml.scores", "float32[]", metadata.get("tokenizer.ggml.scores") as number[]],
    ["tokenizer.ggml.token_type", "int32[]", metadata.get("tokenizer.ggml.token_type") as number[]],
    ["tokenizer.ggml.bos_token_id", "uint32", 1],
    ["tokenizer.ggml.eos_token_id", "uint32", 2],
    ["tokenizer.ggml.add_bos_token", "bool", true],
    ["tokenizer.ggml.add_eos_token", "bool", false],
  ];
  const changed = new Map(changes.map((entry) => [entry[0], entry]));
  return [
    ...base.map((entry) => changed.get(entry[0]) ?? entry),
    ...changes.filter(([key]) => !base.some((entry) => entry[0] === key)),
  ];
}

/** A GGUF holding only metadata, alone in a new folder (which `--model` then names as well). */
async function ggufWith(metadata: Entry[]): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "moxie-gguf-tokenizer-"));
  const file = join(dir, "model.gguf");
  await writeGguf(file, { metadata });
  return { dir, file };
}

describe("a GGUF's tokenizer metadata", () => {
  it("gives the chat template of tokenizer.chat_template, which chats are then rendered with (found through its folder)", async () => {
    const template =
      "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}" +
      "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
    const { dir } = await ggufWith(tokenizerMetadata([["tokenizer.chat_template", "string", template]]));
    const tokenizer = await loadTokenizer(dir);
    expect(tokenizer.chatTemplate).toBe(template);
    expect(chatFormat(tokenizer)).toBe("chat-template");
    const ids = encodeChat(tokenizer, messages([{ role: "user", content: "Hi there" }]));
    expect(ids).toEqual(tokenizer.encodeTemplated("<|user|>\nHi there</s>\n<|assistant|>\n"));
    expect(ids).toContain(tokenizer.eosId);
  });

  it("makes control pieces special tokens and user-defined pieces added tokens matched in text", async () => {
    const { metadata } = readGguf(fixture);
    const pieces = metadata.get("tokenizer.ggml.tokens") as string[];
    const { file } = await ggufWith(
      tokenizerMetadata([
        ["tokenizer.ggml.tokens", "string[]", [...pieces, "<|tag|>", "[CTRL]"]],
        ["tokenizer.ggml.scores", "float32[]", [...(metadata.get("tokenizer.ggml.scores") as number[]), 0, 0]],
        ["tokenizer.ggml.token_type", "int32[]", [...(metadata.get("tokenizer.ggml.token_type") as number[]), 4, 3]],
        ["tokenizer.ggml.eos_token_id", "uint32", 32001],
      ]),
    );
    const tokenizer = await loadTokenizer(file);
    expect(tokenizer.encode("a <|tag|> b")).toContain(32000);
    expect(tokenizer.encode("a [CTRL] b")).not.toContain(32001);
    expect(tokenizer.encodeTemplated("a [CTRL] b")).toContain(32001);
    expect([tokenizer.eosId, tokenizer.eosToken]).toEqual([32001, "[CTRL]"]);
    expect(tokenizer.specialTokens.has(32001) && !tokenizer.specialTokens.has(32000)).toBe(true);
    expect(tokenizer.decode(tokenizer.encodeTemplated("x <|tag|>[CTRL]"))).toBe("x <|tag|>");
  });

  it("adds no dummy space prefix when tokenizer.ggml.add_space_prefix is false", async () => {
    const { file } = await ggufWith(tokenizerMetadata([["tokenizer.ggml.add_space_prefix", "bool", false]]));
    const tokenizer = await loadTokenizer(file);
    const pieces = (text: string) => tokenizer.encode(text).map((id) => tokenizer.piece(id));
    expect(pieces("Hello world")).toEqual(["Hello", "▁world"]);
    expect(referenceTokenizer.encode("Hello world").map((id) => referenceTokenizer.piece(id))).toEqual([
      "▁Hello",
      "▁world",
    ]);
    for (const text of ["Hello world", " leading space", "x"])
      expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it("refuses other tokenizer models, and a file without a tokenizer, naming the problem", async () => {
    const gpt2 = await ggufWith(
      tokenizerMetadata([
        ["tokenizer.ggml.model", "string", "gpt2"],
        ["tokenizer.ggml.merges", "string[]", ["Ġ t"]],
      ]),
    );
    const refused = loadTokenizer(gpt2.file);
    await expect(refused).rejects.toThrow(TokenizerError);
    await expect(refused).rejects.toThrow(/tokenizer model "gpt2" is not supported.*SentencePiece/);
    const bare = await ggufWith([["general.architecture", "string", "llama"]]);
    await expect(loadTokenizer(bare.file)).rejects.toThrow(/has no tokenizer \(no tokenizer\.ggml\.model\)/);
    const short = await ggufWith(tokenizerMetadata([["tokenizer.ggml.scores", "float32[]", [0, 0]]]));
    await expect(loadTokenizer(short.file)).rejects.toThrow(/tokenizer\.ggml\.scores has 2 entries for 32000 tokens/);
  });
});
