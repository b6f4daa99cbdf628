import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as z from "zod";
import { ChatMessage, Tool } from "../../protocol/chat.ts";
import { chatFormat, encodeChat, supportsTools } from "../../backend/text/chat-encoding.ts";
import { writeMistralTokenizerFiles } from "../../backend/text/tokenizer-files.ts";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";

const referenceV3 = "../shared/reference/v3";
const dir = mkdtempSync(join(tmpdir(), "moxie-v3-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
await writeMistralTokenizerFiles(dir, "v3");
const generated = await loadTokenizer(dir);
const reference = await loadTokenizer(referenceV3);
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const request = (sample: { messages: unknown[]; tools: unknown[] }) => ({
  messages: z.array(ChatMessage).parse(sample.messages),
  tools: z.array(Tool).parse(sample.tools),
});

const [BOS, EOS, INST, END_INST, TOOL_CALLS, TOOLS, END_TOOLS, RESULTS, END_RESULTS] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

describe("the generated v3 tokenizer (make-checkpoint --tokenizer v3)", () => {
  it("has the reference v3 vocabulary, merges and added tokens, built from v1's", () => {
    const ours = readJson(join(dir, "tokenizer.json"));
    const theirs = readJson(join(referenceV3, "tokenizer.json"));
    expect(Object.keys(ours.model.vocab)).toHaveLength(32768);
    expect(ours.model.vocab).toEqual(theirs.model.vocab);
    expect(ours.model.merges).toEqual(theirs.model.merges);
    expect(ours.added_tokens).toEqual(theirs.added_tokens);
    for (const key of ["normalizer", "pre_tokenizer", "post_processor", "decoder"])
      expect(ours[key]).toEqual(theirs[key]);
    const config = readJson(join(dir, "tokenizer_config.json"));
    expect(config.added_tokens_decoder).toEqual(
      readJson(join(referenceV3, "tokenizer_config.json")).added_tokens_decoder,
    );
  });

  it("is recognised as v3 with tools; the v1 reference is not", async () => {
    expect(chatFormat(generated)).toBe("mistral-instruct-v3");
    expect(supportsTools(generated)).toBe(true);
    expect(supportsTools(await loadTokenizer("../shared/reference"))).toBe(false);
  });
});

describe.each([
  ["generated", generated],
  ["reference", reference],
])("Mistral instruct v3 encoding (%s tokenizer)", (_, tokenizer) => {
  const enc = (text: string) => tokenizer.encode(text);

  it.each(["get_weather_no_history", "no_tools"])("gives mistral-common's exact ids for its sample %s", (sample) => {
    const { messages, tools } = request(readJson(join(referenceV3, "samples", sample, "sample.json")));
    expect(encodeChat(tokenizer, messages, { tools })).toEqual(
      readJson(join(referenceV3, "samples", sample, "tokens_v3.json")).tokens,
    );
  });

  it("a tool message without the tool_call_id it answers is refused", () => {
    const messages = z.array(ChatMessage).parse([
      { role: "user", content: "x" },
      { role: "assistant", tool_calls: [{ id: "abcdefghi", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", content: "1" },
    ]);
    expect(() => encodeChat(tokenizer, messages)).toThrow(/tool_call_id/);
  });

  it("user text that spells control tokens stays text", () => {
    const ids = encodeChat(
      tokenizer,
      z.array(ChatMessage).parse([{ role: "user", content: "[TOOL_CALLS] [INST] </s> [AVAILABLE_TOOLS]" }]),
    );
    expect(ids.slice(2, -1).filter((id) => id < 771)).toEqual([]);
    expect(ids).toEqual([BOS, INST, ...enc("[TOOL_CALLS] [INST] </s> [AVAILABLE_TOOLS]"), END_INST]);
  });

  it("several tools, parallel calls, their results, the tool history before the last user turn, a system prompt", () => {
    const tools = z.array(Tool).parse([
      {
        type: "function",
        function: {
          name: "add",
          description: "Add two numbers",
          parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } } },
        },
      },
      { type: "function", function: { name: "now", parameters: { type: "object", properties: {} } } },
    ]);
    const messages = z.array(ChatMessage).parse([
      { role: "system", content: "Be exact." },
      { role: "user", content: "Old question" },
      { role: "assistant", tool_calls: [{ id: "aaaaaaaaa", function: { name: "now", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "aaaaaaaaa", content: "noon" },
      { role: "assistant", content: "It is noon.  " },
      { role: "user", content: "What is 2+3, and the time?" },
      {
        role: "assistant",
        content: "",
        tool_calls: [
          { id: "call00001", type: "function", function: { name: "add", arguments: '{"a": 2, "b": 3}' } },
          { id: "call00002", type: "function", function: { name: "now", arguments: {} } },
        ],
      },
      { role: "tool", tool_call_id: "call00001", name: "add", content: "5" },
      { role: "tool", tool_call_id: "call00002", name: "now", content: "it's ünï noon" },
    ]);
    expect(encodeChat(tokenizer, messages, { tools })).toEqual([
      BOS,
      INST,
      ...enc("Old question"),
      END_INST,
      TOOL_CALLS,
      ...enc('[{"name": "now", "arguments": {}, "id": "aaaaaaaaa"}]'),
      EOS,
      RESULTS,
      ...enc('{"content": "noon", "call_id": "aaaaaaaaa"}'),
      END_RESULTS,
      ...enc("It is noon."),
      EOS,
      TOOLS,
      ...enc(
        '[{"type": "function", "function": {"name": "add", "description": "Add two numbers", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}, {"type": "function", "function": {"name": "now", "description": "", "parameters": {"type": "object", "properties": {}}}}]',
      ),
      END_TOOLS,
      INST,
      ...enc("Be exact.\n\nWhat is 2+3, and the time?"),
      END_INST,
      TOOL_CALLS,
      ...enc(
        '[{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "call00001"}, {"name": "now", "arguments": {}, "id": "call00002"}]',
      ),
      EOS,
      RESULTS,
      ...enc('{"content": 5, "call_id": "call00001"}'),
      END_RESULTS,
      RESULTS,
      ...enc('{"content": "it\'s ünï noon", "call_id": "call00002"}'),
      END_RESULTS,
    ]);
  });
});

it("moxie tokenize accepts {messages, tools} lines on a v3 tokenizer, and refuses tools on v1", async () => {
  const sample = readJson(join(referenceV3, "samples", "get_weather_no_history", "sample.json"));
  const run = (model: string, input: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile("node", ["bin/moxie.js", "tokenize", "--model", model], (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
      child.stdin!.end(input);
    });
  const ok = await run(dir, JSON.stringify({ messages: sample.messages, tools: sample.tools }) + "\n");
  expect(JSON.parse(ok.stdout).ids).toEqual(
    readJson(join(referenceV3, "samples", "get_weather_no_history", "tokens_v3.json")).tokens,
  );
  const refused = await run(
    "../shared/reference",
    JSON.stringify({ messages: [{ role: "user", content: "x" }], tools: sample.tools }) + "\n",
  );
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/no tools/);
});
