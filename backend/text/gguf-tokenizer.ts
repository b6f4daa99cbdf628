import * as z from "zod";
import type { GgufFile } from "../engine/checkpoint/gguf/gguf-file.ts";
import { sentencePieceTokenizerFiles, type TokenizerFiles } from "./sentencepiece-tokenizer.ts";
import { TokenizerError } from "./tokenizer.ts";

/** llama.cpp's token types (llama_token_type), as `tokenizer.ggml.token_type` stores them. */
const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const TokenId = z.int().nonnegative().optional();

/** The keys of a SentencePiece ("llama") vocabulary, as llama.cpp's convert_hf_to_gguf.py writes them. */
const SpmMetadata = z.object({
  "tokenizer.ggml.tokens": z.array(z.string()).min(1),
  "tokenizer.ggml.scores": z.array(z.number()).optional(),
  "tokenizer.ggml.token_type": z.array(z.int()).optional(),
  "tokenizer.ggml.bos_token_id": TokenId,
  "tokenizer.ggml.eos_token_id": TokenId,
  "tokenizer.ggml.unknown_token_id": TokenId,
  "tokenizer.ggml.padding_token_id": TokenId,
  "tokenizer.ggml.add_bos_token": z.boolean().optional(),
  "tokenizer.ggml.add_eos_token": z.boolean().optional(),
  "tokenizer.ggml.add_space_prefix": z.boolean().optional(),
  "tokenizer.chat_template": z.string().optional(),
});
type SpmMetadata = z.infer<typeof SpmMetadata>;

/**
 * The Hugging Face tokenizer.json and tokenizer_config.json of the vocabulary a GGUF file carries,
 * as transformers' converter writes them for the same SentencePiece model (LlamaConverter), so the
 * chat encoding, detokenizer and stop matching work on a GGUF exactly as on its checkpoint folder.
 * Only SentencePiece BPE ("llama": Mistral, Mixtral, Llama 2) is read; the other models are refused.
 */
export function ggufTokenizerFiles(gguf: Pick<GgufFile, "file" | "metadata">): TokenizerFiles {
  const model = gguf.metadata.get("tokenizer.ggml.model");
  if (model === undefined) throw new TokenizerError(`${gguf.file} has no tokenizer (no tokenizer.ggml.model)`);
  if (model !== "llama")
    throw new TokenizerError(
      `${gguf.file}: its tokenizer model ${JSON.stringify(model)} is not supported; moxie reads SentencePiece vocabularies (tokenizer.ggml.model "llama": Mistral, Mixtral, Llama 2), not byte-level BPE ("gpt2", as Llama 3) or others`,
    );
  const parsed = SpmMetadata.safeParse(Object.fromEntries(gguf.metadata));
  if (!parsed.success) throw new TokenizerError(`${gguf.file}: ${z.prettifyError(parsed.error)}`);
  return spmTokenizerFiles(gguf.file, parsed.data);
}

function spmTokenizerFiles(file: string, metadata: SpmMetadata): TokenizerFiles {
  const { pieces, scores, types, vocab } = vocabulary(file, metadata);
  const special = specialPieces(file, metadata, pieces);
  return sentencePieceTokenizerFiles({
    vocab,
    merges: sentencePieceMerges(pieces, scores),
    added: addedTokens(pieces, types, new Set(Object.values(special))),
    ...special,
    addBos: metadata["tokenizer.ggml.add_bos_token"] ?? true,
    addEos: metadata["tokenizer.ggml.add_eos_token"] ?? false,
    addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"] ?? true,
    byteFallback: types.includes(TokenType.byte),
    chatTemplate: metadata["tokenizer.chat_template"],
  });
}

/** The pieces in id order with their scores and types, checked to match one another. */
function vocabulary(file: string, metadata: SpmMetadata) {
  const pieces = metadata["tokenizer.ggml.tokens"];
  // Without scores or types llama.cpp takes 0 and "normal" for every token.
  const scores = metadata["tokenizer.ggml.scores"] ?? pieces.map(() => 0);
  const types: readonly number[] = metadata["tokenizer.ggml.token_type"] ?? pieces.map(() => TokenType.normal);
  for (const [key, values] of [
    ["scores", scores],
    ["token_type", types],
  ] as const)
    if (values.length !== pieces.length)
      throw new TokenizerError(
        `${file}: tokenizer.ggml.${key} has ${values.length} entries for ${pieces.length} tokens`,
      );
  const vocab = new Map<string, number>();
  pieces.forEach((piece, id) => {
    if (vocab.has(piece))
      throw new TokenizerError(`${file}: tokenizer.ggml.tokens holds ${JSON.stringify(piece)} twice`);
    vocab.set(piece, id);
  });
  return { pieces, scores, types, vocab };
}

/** BOS, EOS, UNK and PAD as pieces, with llama.cpp's defaults for a SentencePiece vocabulary when the file names none. */
function specialPieces(file: string, metadata: SpmMetadata, pieces: readonly string[]) {
  const tokenOf = (key: string, id: number | undefined) => {
    if (id === undefined) return undefined;
    if (id >= pieces.length)
      throw new TokenizerError(`${file}: ${key} ${id} is past the vocabulary (${pieces.length})`);
    return pieces[id];
  };
  return {
    bos: tokenOf("tokenizer.ggml.bos_token_id", metadata["tokenizer.ggml.bos_token_id"] ?? 1),
    eos: tokenOf("tokenizer.ggml.eos_token_id", metadata["tokenizer.ggml.eos_token_id"] ?? 2),
    unk: tokenOf("tokenizer.ggml.unknown_token_id", metadata["tokenizer.ggml.unknown_token_id"] ?? 0),
    pad: tokenOf("tokenizer.ggml.padding_token_id", metadata["tokenizer.ggml.padding_token_id"]),
  };
}

/** Control and unknown pieces (and the named ones) are special tokens, user-defined ones plain added tokens (matched in text). */
function addedTokens(pieces: readonly string[], types: readonly number[], named: ReadonlySet<string | undefined>) {
  return pieces.flatMap((content, id) => {
    const special = types[id] === TokenType.control || types[id] === TokenType.unknown || named.has(content);
    if (!special && types[id] !== TokenType.userDefined) return [];
    return [{ id, content, special }];
  });
}

/**
 * BPE merges from a SentencePiece vocabulary, as transformers' SentencePieceExtractor derives them:
 * every split of a piece into two pieces is a merge, ranked by the merged piece's score (highest
 * first), then by the piece's id, then by the halves' ids. SentencePiece's BPE merges the adjacent
 * pair whose result scores highest, so this ranking reproduces its encoding.
 */
export function sentencePieceMerges(pieces: readonly string[], scores: readonly number[]): [string, string][] {
  const ids = new Map(pieces.map((piece, id) => [piece, id]));
  const merges: { piece: number; left: number; right: number }[] = [];
  pieces.forEach((piece, id) => {
    // Split by code points, as Python slices the piece.
    const chars = [...piece];
    for (let cut = 1; cut < chars.length; cut++) {
      const left = ids.get(chars.slice(0, cut).join(""));
      const right = ids.get(chars.slice(cut).join(""));
      if (left !== undefined && right !== undefined) merges.push({ piece: id, left, right });
    }
  });
  merges.sort((a, b) => scores[b.piece] - scores[a.piece] || a.piece - b.piece || a.left - b.left || a.right - b.right);
  return merges.map(({ left, right }) => [pieces[left], pieces[right]]);
}
