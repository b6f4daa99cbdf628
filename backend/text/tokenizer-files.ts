import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import mistralTokenizer from "mistral-tokenizer-js";
import { V3_CONTROL } from "./mistral-instruct-v3.ts";
import { sentencePieceTokenizerFiles, type TokenizerFiles } from "./sentencepiece-tokenizer.ts";

/**
 * Mistral's v1 instruct format as a jinja chat_template, for tools that read
 * tokenizer_config.json. moxie itself encodes chats segment-wise (mistral-instruct-v1.ts),
 * which is what the model was trained on; this template renders the same text.
 */
export const MISTRAL_V1_CHAT_TEMPLATE = `{{- bos_token }}
{%- set ns = namespace(system=[], first_user=true) %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
        {%- set ns.system = ns.system + [message['content'] if message['content'] is string else message['content'] | map(attribute='text') | join('\\n\\n')] %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set text = message['content'] if message['content'] is string else message['content'] | map(attribute='text') | join('\\n\\n') %}
    {%- if message['role'] == 'user' %}
        {{- '[INST] ' }}
        {%- if ns.first_user and ns.system | length > 0 %}
            {{- ns.system | join('\\n\\n') + '\\n\\n' }}
        {%- endif %}
        {{- text + ' [/INST]' }}
        {%- set ns.first_user = false %}
    {%- elif message['role'] == 'assistant' %}
        {{- text + eos_token }}
    {%- elif message['role'] != 'system' %}
        {{- raise_exception('Mistral instruct v1 has only system, user and assistant messages, got ' + message['role']) }}
    {%- endif %}
{%- endfor %}`;

const SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"];

export type TokenizerVersion = "v1" | "v3";

/**
 * The pieces Mistral's tokenizer v3 (Mistral-7B-Instruct-v0.3, Mixtral-8x22B-Instruct) inserts
 * after </s>, as its SentencePiece model numbers them: the control tokens (instructions, tools,
 * fill-in-the-middle, then placeholders control_12 … control_748, all special) and 20 reference
 * markers (plain added tokens), 768 in all; every v1 piece from id 3 on moves up by 768.
 */
function v3InsertedPieces(): { content: string; special: boolean }[] {
  const named = [...V3_CONTROL, "[IMG]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"];
  const placeholders = Array.from({ length: 737 }, (_, i) => `[control_${i + 12}]`);
  const references = Array.from({ length: 20 }, (_, i) => `[REFERENCE_DOC_${19 - i}]`);
  return [
    ...[...named, ...placeholders].map((content) => ({ content, special: true })),
    ...references.map((content) => ({ content, special: false })),
  ];
}

/** The added tokens of a version: id, spelling and whether it is a control (special) token. */
function addedTokens(version: TokenizerVersion): { id: number; content: string; special: boolean }[] {
  const inserted = version === "v3" ? v3InsertedPieces() : [];
  return [...SPECIAL_TOKENS.map((content) => ({ content, special: true })), ...inserted].map((token, id) => ({
    id,
    ...token,
  }));
}

/**
 * Mistral's SentencePiece BPE tokenizer files, built from the v1 vocabulary and merges that
 * mistral-tokenizer-js ships (its merge priorities are the merge order); v3 is the same vocabulary
 * with its 768 control pieces inserted at id 3 (no npm package ships v3's). v3 has no chat_template,
 * as on the Hub (moxie encodes v3 chats itself: mistral-instruct-v3.ts).
 */
function mistralTokenizerFiles(version: TokenizerVersion): TokenizerFiles {
  const added = addedTokens(version);
  const shift = added.length - SPECIAL_TOKENS.length;
  const vocab = new Map<string, number>([
    ...added.map((token): [string, number] => [token.content, token.id]),
    ...mistralTokenizer.vocabById
      .slice(SPECIAL_TOKENS.length)
      .map((token, i): [string, number] => [token, i + SPECIAL_TOKENS.length + shift]),
  ]);
  return sentencePieceTokenizerFiles({
    vocab,
    merges: [...mistralTokenizer.merges].sort((a, b) => a[1] - b[1]).map(([pair]) => pair),
    added,
    bos: "<s>",
    eos: "</s>",
    unk: "<unk>",
    addBos: true,
    addEos: false,
    addSpacePrefix: true,
    byteFallback: true,
    chatTemplate: version === "v1" ? MISTRAL_V1_CHAT_TEMPLATE : undefined,
  });
}

/** Vocabulary size of each version: v1's 32000 pieces, plus v3's 768. */
export const TOKENIZER_VOCAB_SIZE: Record<TokenizerVersion, number> = { v1: 32000, v3: 32768 };

/** Writes Mistral's tokenizer.json and tokenizer_config.json (v1: Mixtral-8x7B's; v3: with tool calling) into a checkpoint folder. */
export async function writeMistralTokenizerFiles(dir: string, version: TokenizerVersion = "v1"): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { tokenizerJson, tokenizerConfig } = mistralTokenizerFiles(version);
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig, null, 2) + "\n");
}
