import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import mistralTokenizer from "mistral-tokenizer-js";

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

const SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"] as const;

/**
 * The Hugging Face tokenizer.json of Mixtral's SentencePiece BPE tokenizer, built from the
 * vocabulary and merges that mistral-tokenizer-js ships (its merge priorities are the merge
 * order). The pipeline is the one transformers' converter writes for it: "▁" prepended and
 * for spaces, no pre-tokenizer, byte fallback, BOS added by the post-processor.
 */
function mixtralTokenizerJson(): object {
  const vocab = Object.fromEntries(mistralTokenizer.vocabById.map((token, id) => [token, id]));
  const merges = [...mistralTokenizer.merges].sort((a, b) => a[1] - b[1]).map(([pair]) => pair);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

function mixtralTokenizerConfig(): object {
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(
      SPECIAL_TOKENS.map((content, id) => [
        String(id),
        { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
    additional_special_tokens: [],
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    spaces_between_special_tokens: false,
    tokenizer_class: "LlamaTokenizer",
    chat_template: MISTRAL_V1_CHAT_TEMPLATE,
  };
}

/** Writes Mixtral's tokenizer.json and tokenizer_config.json into a checkpoint folder (for `moxie make-checkpoint`). */
export async function writeMixtralTokenizerFiles(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(mixtralTokenizerJson()));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(mixtralTokenizerConfig(), null, 2) + "\n");
}
