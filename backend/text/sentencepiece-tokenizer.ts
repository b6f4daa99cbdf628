/** The two files of a Hugging Face tokenizer, parsed, as `Tokenizer.fromJson` takes them. */
export interface TokenizerFiles {
  tokenizerJson: object;
  tokenizerConfig: object;
}

/** A SentencePiece BPE vocabulary (Mistral, Mixtral, Llama 2), whatever it was read from. */
export interface SentencePieceSpec {
  /** Piece → id. */
  vocab: ReadonlyMap<string, number>;
  /** In priority order: "left right" strings or [left, right] pairs. */
  merges: readonly (string | readonly [string, string])[];
  added: readonly { id: number; content: string; special: boolean }[];
  bos?: string;
  eos?: string;
  unk?: string;
  pad?: string;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  byteFallback: boolean;
  chatTemplate?: string;
}

/**
 * tokenizer.json and tokenizer_config.json as transformers' converter (LlamaConverter) writes them
 * for a SentencePiece BPE model: "▁" prepended and for spaces, no pre-tokenizer, byte fallback,
 * BOS/EOS added by the post-processor. Mistral's own files and a GGUF's vocabulary both go through it.
 */
export function sentencePieceTokenizerFiles(spec: SentencePieceSpec): TokenizerFiles {
  const { added, bos, eos, unk, pad, addBos, addEos, addSpacePrefix } = spec;
  const flags = { single_word: false, lstrip: false, rstrip: false, normalized: false };
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added.map(({ id, content, special }) => ({ id, content, ...flags, special })),
    normalizer: {
      type: "Sequence",
      normalizers: [
        ...(addSpacePrefix ? [{ type: "Prepend", prepend: "▁" }] : []),
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: postProcessor(addBos ? bos : undefined, addEos ? eos : undefined, spec.vocab),
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        ...(addSpacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk ?? null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: spec.byteFallback,
      ignore_merges: false,
      vocab: Object.fromEntries(spec.vocab),
      merges: spec.merges,
    },
  };
  const tokenizerConfig = {
    add_bos_token: addBos,
    add_eos_token: addEos,
    added_tokens_decoder: Object.fromEntries(
      added.map(({ id, content, special }) => [
        String(id),
        { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special },
      ]),
    ),
    additional_special_tokens: [],
    bos_token: bos ?? null,
    eos_token: eos ?? null,
    unk_token: unk ?? null,
    pad_token: pad ?? null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    spaces_between_special_tokens: false,
    tokenizer_class: "LlamaTokenizer",
    ...(spec.chatTemplate !== undefined ? { chat_template: spec.chatTemplate } : {}),
  };
  return { tokenizerJson, tokenizerConfig };
}

/** BOS and EOS around each sequence as transformers' LlamaTokenizerFast sets them (add_bos_token, add_eos_token). */
function postProcessor(bos: string | undefined, eos: string | undefined, vocab: ReadonlyMap<string, number>) {
  const special = (token: string | undefined, typeId: number) =>
    token === undefined ? [] : [{ SpecialToken: { id: token, type_id: typeId } }];
  const sequence = (id: string, typeId: number) => [
    ...special(bos, typeId),
    { Sequence: { id, type_id: typeId } },
    ...special(eos, typeId),
  ];
  return {
    type: "TemplateProcessing",
    single: sequence("A", 0),
    pair: [...sequence("A", 0), ...sequence("B", 1)],
    special_tokens: Object.fromEntries(
      [bos, eos]
        .filter((token) => token !== undefined)
        .map((token) => [token, { id: token, ids: [vocab.get(token)], tokens: [token] }]),
    ),
  };
}
