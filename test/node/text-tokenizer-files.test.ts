import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { ChatMessage } from "../../protocol/chat.ts";
import { encodeChat } from "../../backend/text/chat-encoding.ts";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";
import { writeMistralTokenizerFiles } from "../../backend/text/tokenizer-files.ts";
import { chatSample, golden, reference, referenceFile } from "./support/text-reference.ts";

const dir = await mkdtemp(join(tmpdir(), "moxie-tokenizer-files-"));
await writeMistralTokenizerFiles(dir);
const generated = await loadTokenizer(dir);
const referenceTokenizer = await loadTokenizer(reference);

describe("Mixtral tokenizer files built from mistral-tokenizer-js", () => {
  it("hold the same tokenizer.json as the reference conversion (vocabulary, merges, pipeline)", async () => {
    const ours = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8"));
    const theirs = JSON.parse(referenceFile("tokenizer.json"));
    expect(Object.keys(ours.model.vocab)).toHaveLength(32000);
    expect(ours.model.merges).toHaveLength(theirs.model.merges.length);
    expect(ours).toEqual(theirs);
  });

  it("encode the golden sample exactly as SentencePiece and the reference tokenizer.json", () => {
    for (const { text, ids } of golden) {
      expect(generated.encode(text, { bos: true }), text).toEqual(ids);
      expect(generated.encode(text), text).toEqual(referenceTokenizer.encode(text));
    }
  });

  it("name the special tokens and give the reference chat ids", () => {
    expect([generated.bosId, generated.eosId, generated.unkId]).toEqual([1, 2, 0]);
    expect(encodeChat(generated, z.array(ChatMessage).parse(chatSample.request.messages))).toEqual(chatSample.ids);
  });

  it("carry a v1 chat_template that renders like mistral-common's v1 template", () => {
    const theirs = new Template(referenceFile("chat_template.v1.jinja"));
    const ours = new Template(generated.chatTemplate ?? "");
    const conversations = [
      chatSample.request.messages,
      [
        { role: "system", content: "Be brief." },
        { role: "system", content: [{ type: "text", text: "Use French." }] },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Salut." },
        { role: "user", content: [{ type: "text", text: "Bye" }] },
      ],
    ];
    for (const messages of conversations) {
      const context = { messages, bos_token: "<s>", eos_token: "</s>" };
      expect(ours.render(context)).toBe(theirs.render(context));
    }
  });
});
