import { describe, expect, it } from "vitest";
import * as z from "zod";
import { ChatMessage } from "../../protocol/chat.ts";
import { chatFormat, encodeChat, MISTRAL_SAFE_PROMPT } from "../../backend/text/chat-encoding.ts";
import { loadTokenizer, Tokenizer } from "../../backend/text/tokenizer.ts";
import { chatSample, reference, referenceFile } from "./support/text-reference.ts";

const tokenizer = await loadTokenizer(reference);
const messages = (input: unknown[]) => z.array(ChatMessage).parse(input);
const enc = (text: string) => tokenizer.encode(text);
const BOS = 1;
const EOS = 2;
/** How a conversation the chat format cannot express is refused. */
const invalidMessages = expect.objectContaining({ reason: "invalid_messages", param: "messages" });

describe("Mistral instruct v1 (mistral-common's InstructTokenizerV1)", () => {
  it("picks the v1 format for Mixtral's tokenizer", () => {
    expect(chatFormat(tokenizer)).toBe("mistral-instruct-v1");
  });

  it("gives mistral-common's exact ids for the reference conversation", () => {
    expect(encodeChat(tokenizer, messages(chatSample.request.messages))).toEqual(chatSample.ids);
  });

  it("joins the system prompts by blank lines and puts them before the first user turn only", () => {
    const ids = encodeChat(
      tokenizer,
      messages([
        { role: "system", content: "You are terse." },
        { role: "system", content: [{ type: "text", text: "Answer in French." }] },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Salut." },
        { role: "user", content: "Bye" },
      ]),
    );
    expect(ids).toEqual([
      BOS,
      ...enc("[INST] You are terse.\n\nAnswer in French.\n\nHi [/INST]"),
      ...enc("Salut."),
      EOS,
      ...enc("[INST] Bye [/INST]"),
    ]);
  });

  it("merges consecutive turns of one role and joins text chunks by blank lines", () => {
    const ids = encodeChat(
      tokenizer,
      messages([
        { role: "user", content: "one" },
        {
          role: "user",
          content: [
            { type: "text", text: "two" },
            { type: "text", text: "three" },
          ],
        },
      ]),
    );
    expect(ids).toEqual([BOS, ...enc("[INST] one\n\ntwo\n\nthree [/INST]")]);
  });

  it("starts with an empty user turn when the conversation starts with the assistant", () => {
    const ids = encodeChat(
      tokenizer,
      messages([
        { role: "assistant", content: "Hello!" },
        { role: "user", content: "Hi" },
      ]),
    );
    expect(ids).toEqual([BOS, ...enc("[INST]  [/INST]"), ...enc("Hello!"), EOS, ...enc("[INST] Hi [/INST]")]);
  });

  it("continues a last assistant message with prefix: true instead of closing it", () => {
    const ids = encodeChat(
      tokenizer,
      messages([
        { role: "user", content: "Count" },
        { role: "assistant", content: "1, 2,", prefix: true },
      ]),
    );
    expect(ids).toEqual([BOS, ...enc("[INST] Count [/INST]"), ...enc("1, 2,")]);
  });

  it("safe_prompt puts Mistral's guardrail prompt first among the system prompts", () => {
    const ids = encodeChat(
      tokenizer,
      messages([
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ]),
      { safePrompt: true },
    );
    expect(ids).toEqual([BOS, ...enc(`[INST] ${MISTRAL_SAFE_PROMPT}\n\nBe brief.\n\nHi [/INST]`)]);
    expect(MISTRAL_SAFE_PROMPT).toMatch(/^Always assist with care, respect, and truth\./);
  });

  it("refuses what v1 cannot express, with a message saying why", () => {
    const refuse = (input: unknown[], why: RegExp) => {
      const run = () => encodeChat(tokenizer, messages(input));
      expect(run).toThrow(invalidMessages);
      expect(run).toThrow(why);
    };
    refuse(
      [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "abc123xyz", function: { name: "weather", arguments: "{}" } }],
        },
        { role: "tool", content: "sunny", tool_call_id: "abc123xyz" },
      ],
      /no tool calls or tool messages/,
    );
    refuse(
      [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
      ],
      /last message must be a user message or an assistant message with prefix/,
    );
    refuse([{ role: "assistant", content: "Hello" }], /one message must be a user or system message/);
    refuse(
      [
        { role: "user", content: "a" },
        { role: "assistant", content: "b", prefix: true },
        { role: "user", content: "c" },
      ],
      /only the last message can be an assistant message with prefix/,
    );
    refuse(
      [
        { role: "user", content: "a" },
        { role: "assistant", content: "" },
        { role: "user", content: "c" },
      ],
      /has no content/,
    );
    refuse(
      [
        { role: "user", content: "a" },
        { role: "assistant", content: "b" },
        { role: "system", content: "c" },
        { role: "user", content: "d" },
      ],
      /system message cannot follow an assistant/,
    );
  });
});

describe("jinja chat_template for other tokenizers", () => {
  const json = JSON.parse(referenceFile("tokenizer.json"));
  const template = [
    "{%- for m in messages %}",
    "{%- if m.role == 'tool' %}{{ raise_exception('no tools here') }}{% endif %}",
    "{{ bos_token }}{{ m.role }}: {{ m.content }}{{ eos_token }}",
    "{%- endfor %}",
    "{%- if add_generation_prompt %}{{ bos_token }}assistant:{% endif %}",
  ].join("");
  const templated = Tokenizer.fromJson(json, { bos_token: "<s>", eos_token: "</s>", chat_template: template });

  it("is used when the template is not Mistral's v1", () => {
    expect(chatFormat(templated)).toBe("chat-template");
  });

  it("renders the conversation and parses the special tokens the template writes", () => {
    const ids = encodeChat(
      templated,
      messages([
        { role: "system", content: "Be kind." },
        { role: "user", content: "hi" },
      ]),
    );
    expect(ids).toEqual([
      BOS,
      ...enc("system: Be kind."),
      EOS,
      BOS,
      ...enc("user: hi"),
      EOS,
      BOS,
      ...enc("assistant:"),
    ]);
  });

  it("continues a prefix message: no generation prompt, cut after its text", () => {
    const ids = encodeChat(
      templated,
      messages([
        { role: "user", content: "hi" },
        { role: "assistant", content: "Sure", prefix: true },
      ]),
    );
    expect(ids).toEqual([BOS, ...enc("user: hi"), EOS, BOS, ...enc("assistant: Sure")]);
  });

  it("safe_prompt adds the guardrail as a system message", () => {
    const ids = encodeChat(templated, messages([{ role: "user", content: "hi" }]), { safePrompt: true });
    expect(ids.slice(0, 1 + enc(`system: ${MISTRAL_SAFE_PROMPT}`).length)).toEqual([
      BOS,
      ...enc(`system: ${MISTRAL_SAFE_PROMPT}`),
    ]);
  });

  it("turns the template's raise_exception and parse errors into invalid_messages refusals", () => {
    const toolTurn = messages([
      { role: "user", content: "x" },
      { role: "tool", content: "y" },
    ]);
    expect(() => encodeChat(templated, toolTurn)).toThrow(/refused the conversation: no tools here/);
    const broken = Tokenizer.fromJson(json, { chat_template: "{% for m in messages %}" });
    expect(() => encodeChat(broken, toolTurn)).toThrow(invalidMessages);
  });
});
