import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import * as z from "zod";
import { readGguf } from "../engine/checkpoint/gguf/gguf-file.ts";
import { modelSource } from "../engine/checkpoint/model-source.ts";
import { ggufTokenizerFiles } from "./gguf-tokenizer.ts";

/** A token written as a string, or as the `{ content }` object older transformers versions save. */
const TokenName = z
  .union([z.string(), z.object({ content: z.string() }).transform((token) => token.content)])
  .nullish();

/** The fields of tokenizer_config.json that moxie reads; everything else passes through to the library. */
export const TokenizerConfig = z.looseObject({
  bos_token: TokenName,
  eos_token: TokenName,
  unk_token: TokenName,
  chat_template: z
    .union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }))])
    .nullish()
    // A list holds named templates; "default" is the chat one (as transformers picks it).
    .transform(
      (template) =>
        (Array.isArray(template) ? template.find((entry) => entry.name === "default")?.template : template) ??
        undefined,
    ),
});
export type TokenizerConfig = z.infer<typeof TokenizerConfig>;

const AddedToken = z.looseObject({ id: z.int(), content: z.string(), special: z.boolean().default(false) });
const TokenizerJson = z.looseObject({
  added_tokens: z.array(AddedToken).default([]),
  pre_tokenizer: z.unknown().optional(),
  model: z.looseObject({
    type: z.string(),
    vocab: z.unknown().optional(),
    /** "left right", or [left, right] in newer files. */
    merges: z.array(z.union([z.string(), z.array(z.string())])).optional(),
  }),
});
type TokenizerJson = z.infer<typeof TokenizerJson>;

/** SentencePiece's word boundary marker, which converted tokenizers write for spaces. */
const WORD_START = "\u2581";

/**
 * A word split for SentencePiece-style BPE (no pre-tokenizer: the whole text is one word).
 * tokenizers.js merges such text about 10x slower than word by word, and its word cache never
 * hits. When no merge yields "▁" after another character, no merge crosses a word start, so
 * splitting there (each word = its leading "▁"s and what follows) changes no id.
 */
function withWordSplit(json: TokenizerJson): TokenizerJson {
  const merges = json.model.merges;
  if (json.pre_tokenizer != null || json.model.type !== "BPE" || merges === undefined) return json;
  const crossesWordStart = new RegExp(`[^${WORD_START}]${WORD_START}`);
  const result = (merge: string | string[]) => (typeof merge === "string" ? merge.replace(" ", "") : merge.join(""));
  if (merges.some((merge) => crossesWordStart.test(result(merge)))) return json;
  return {
    ...json,
    pre_tokenizer: {
      type: "Split",
      pattern: { Regex: `${WORD_START}*[^${WORD_START}]*` },
      behavior: "Isolated",
      invert: true,
    },
  };
}

export class TokenizerError extends Error {}

export interface EncodeOptions {
  /** Put the BOS token first (when the tokenizer has one), like SentencePiece's `[bos] + encode(text)`. */
  bos?: boolean;
}

/**
 * Strings ⇄ token ids for one checkpoint. Text is always encoded as plain text: a special
 * token's spelling inside it (say "</s>" typed by a user) stays literal text, as SentencePiece
 * and mistral-common treat it, so a prompt can never forge control tokens. Only a rendered chat
 * template, which is trusted, has its special tokens parsed (`encodeTemplated`).
 */
export class Tokenizer {
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly unkToken: string | undefined;
  /** The special (control) tokens, id → spelling; decode drops them. */
  readonly specialTokens: ReadonlyMap<number, string>;
  readonly chatTemplate: string | undefined;
  private readonly plain: HfTokenizer;
  private templated: HfTokenizer | undefined;
  private longest: number | undefined;

  constructor(
    private readonly json: TokenizerJson,
    private readonly config: TokenizerConfig,
  ) {
    // The plain-text tokenizer does not know the special tokens as added tokens, so their spelling is never split out.
    this.plain = new HfTokenizer(
      withWordSplit({ ...json, added_tokens: json.added_tokens.filter((token) => !token.special) }),
      config,
    );
    this.specialTokens = new Map(
      json.added_tokens.filter((token) => token.special).map((token) => [token.id, token.content]),
    );
    const idOf = (token: string | null | undefined) => {
      if (token == null) return undefined;
      const id = json.added_tokens.find((added) => added.content === token)?.id ?? this.plain.token_to_id(token);
      if (id === undefined)
        throw new TokenizerError(
          `tokenizer_config.json names the token ${JSON.stringify(token)}, which is not in the vocabulary`,
        );
      return id;
    };
    this.bosToken = config.bos_token ?? undefined;
    this.eosToken = config.eos_token ?? undefined;
    this.unkToken = config.unk_token ?? undefined;
    this.bosId = idOf(this.bosToken);
    this.eosId = idOf(this.eosToken);
    this.unkId = idOf(this.unkToken);
    this.chatTemplate = config.chat_template;
  }

  /** Builds a tokenizer from the parsed contents of tokenizer.json and tokenizer_config.json. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}): Tokenizer {
    const json = TokenizerJson.safeParse(tokenizerJson);
    if (!json.success) throw new TokenizerError(`tokenizer.json: ${z.prettifyError(json.error)}`);
    const config = TokenizerConfig.safeParse(tokenizerConfig);
    if (!config.success) throw new TokenizerError(`tokenizer_config.json: ${z.prettifyError(config.error)}`);
    return new Tokenizer(json.data, config.data);
  }

  /**
   * The most UTF-16 code units one token can stand for (its piece's spelling, "▁" as a space): a
   * text of L code units takes at least L / longestPiece tokens, so a prompt can be known to be too
   * long for the context before it is tokenized.
   */
  get longestPiece(): number {
    this.longest ??= Math.max(
      1,
      ...Object.keys(this.json.model.vocab ?? {}).map((piece) => piece.length),
      ...this.json.added_tokens.map((token) => token.content.length),
    );
    return this.longest;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = text === "" ? [] : this.plain.encode(text, { add_special_tokens: false }).ids;
    return options.bos && this.bosId !== undefined ? [this.bosId, ...ids] : ids;
  }

  /** Encodes the output of a chat template, whose special-token spellings are real control tokens. */
  encodeTemplated(text: string): number[] {
    this.templated ??= new HfTokenizer(withWordSplit(this.json), this.config);
    return text === "" ? [] : this.templated.encode(text, { add_special_tokens: false }).ids;
  }

  /** The byte a byte-fallback token such as <0xF0> stands for; undefined for every other token. */
  byteValue(id: number): number | undefined {
    const match = /^<0x([0-9A-F]{2})>$/.exec(this.piece(id) ?? "");
    return match ? parseInt(match[1], 16) : undefined;
  }

  /** The vocabulary entry of an id as tokenizer.json spells it ("▁the", "<0x0A>", "</s>"). */
  piece(id: number): string | undefined {
    return this.specialTokens.get(id) ?? this.plain.id_to_token(id) ?? undefined;
  }

  /**
   * Text of the ids without the special tokens, as the tokenizer's decoder produces it (like
   * Hugging Face tokenizers and vLLM: no transformers-style clean_up_tokenization_spaces, which
   * would rewrite text already streamed).
   */
  decode(ids: readonly number[]): string {
    const kept = ids.filter((id) => !this.specialTokens.has(id));
    return kept.length === 0 ? "" : this.plain.decode(kept, { clean_up_tokenization_spaces: false });
  }
}

/**
 * The tokenizer of what `--model` names: a checkpoint folder's tokenizer.json (required) and
 * tokenizer_config.json (optional), or the vocabulary inside a GGUF file.
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const source = modelSource(path);
  if (source.kind === "gguf") {
    const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(readGguf(source.file));
    return Tokenizer.fromJson(tokenizerJson, tokenizerConfig);
  }
  const jsonPath = join(source.dir, "tokenizer.json");
  if (!existsSync(jsonPath)) throw new TokenizerError(`${source.dir} has no tokenizer.json`);
  const configPath = join(source.dir, "tokenizer_config.json");
  const readJson = async (path: string) => {
    try {
      return JSON.parse(await readFile(path, "utf8")) as unknown;
    } catch (error) {
      throw new TokenizerError(`${path}: ${(error as Error).message}`);
    }
  };
  return Tokenizer.fromJson(await readJson(jsonPath), existsSync(configPath) ? await readJson(configPath) : {});
}
