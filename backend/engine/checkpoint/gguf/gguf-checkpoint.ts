import { CheckpointError, normaliseConfig, type ModelConfig } from "../config.ts";
import type { TensorEntry } from "../safetensors.ts";
import { tensorNames } from "../tensor-names.ts";
import { readGguf, type GgufFile, type GgufTensor, type GgufValue } from "./gguf-file.ts";
import { ggmlBytes } from "./ggml-types.ts";

/** The architecture llama.cpp's converter writes for Llama, Mistral and Mixtral (experts merged or not). */
const ARCHITECTURE = "llama";

/**
 * A GGUF file as a checkpoint: its config from the metadata (checked by the same rules as a
 * config.json) and its tensors under Hugging Face's names, as views into the file: experts merged
 * into one tensor become one view each, and attn_q/attn_k carry the head count their rows are
 * permuted over. Nothing is read but the header.
 */
export function ggufCheckpoint(file: string): {
  config: ModelConfig;
  tensors: Map<string, TensorEntry>;
  gguf: GgufFile;
} {
  const gguf = readGguf(file);
  const config = ggufConfig(gguf);
  const tensors = new Map<string, TensorEntry>();
  const add: AddView = (hfName, tensor, view = {}) =>
    tensors.set(hfName, {
      name: hfName,
      file,
      dtype: tensor.type,
      shape: [...tensor.dims].reverse(),
      offset: tensor.offset,
      byteLength: tensor.byteLength,
      ...view,
    });
  for (const [ggufName, hfName] of [
    ["token_embd.weight", tensorNames.embedding],
    ["output_norm.weight", tensorNames.finalNorm],
    ["output.weight", tensorNames.lmHead],
  ] as const) {
    const tensor = gguf.tensors.get(ggufName);
    if (tensor) add(hfName, tensor);
  }
  for (let layer = 0; layer < config.layers; layer++) addLayer(gguf, config, layer, add);
  return { config, tensors, gguf };
}

type AddView = (hfName: string, tensor: GgufTensor, view?: Partial<TensorEntry>) => void;

/** One layer's tensors under their Hugging Face names. */
function addLayer(gguf: GgufFile, config: ModelConfig, layer: number, add: AddView): void {
  const names = tensorNames.layer(layer);
  const block = (part: string) => gguf.tensors.get(`blk.${layer}.${part}.weight`);
  const pairs = [
    ["attn_norm", names.inputNorm],
    ["ffn_norm", names.postAttentionNorm],
    ["attn_v", names.value],
    ["attn_output", names.output],
    ["ffn_gate_inp", names.router],
    ["ffn_gate", names.mlp.gate],
    ["ffn_up", names.mlp.up],
    ["ffn_down", names.mlp.down],
  ] as const;
  for (const [part, hfName] of pairs) {
    const tensor = block(part);
    if (tensor) add(hfName, tensor);
  }
  const query = block("attn_q");
  if (query) add(names.query, query, { permutedHeads: config.heads });
  const key = block("attn_k");
  if (key) add(names.key, key, { permutedHeads: config.kvHeads });
  for (let e = 0; e < config.experts; e++) {
    const expert = names.expert(e);
    for (const [part, hfName] of [
      ["gate", expert.gate],
      ["up", expert.up],
      ["down", expert.down],
    ] as const) {
      const merged = block(`ffn_${part}_exps`);
      const single = block(`ffn_${part}.${e}`);
      if (single) add(hfName, single);
      else if (merged) add(hfName, merged, expertView(merged, e, gguf.file));
    }
  }
}

/** Expert e of a merged [experts, rows, cols] tensor: its contiguous slice. */
function expertView(merged: GgufTensor, e: number, file: string): Partial<TensorEntry> {
  if (merged.dims.length !== 3 || e >= merged.dims[2])
    throw new CheckpointError(`${file}: ${merged.name} has dims [${merged.dims.join(", ")}], no expert ${e}`);
  const [cols, rows] = merged.dims;
  const byteLength = ggmlBytes(merged.type, cols * rows);
  return { shape: [rows, cols], offset: merged.offset + e * byteLength, byteLength };
}

/** The model's config from llama.cpp's metadata keys, as the config.json transformers would write. */
function ggufConfig(gguf: GgufFile): ModelConfig {
  const source = `${gguf.file} (GGUF metadata)`;
  const architecture = gguf.metadata.get("general.architecture");
  if (architecture !== ARCHITECTURE)
    throw new CheckpointError(
      `${gguf.file}: general.architecture is ${JSON.stringify(architecture)}; moxie reads "${ARCHITECTURE}" GGUFs (Llama, Mistral, Mixtral)`,
    );
  const value = (key: string) => gguf.metadata.get(`${ARCHITECTURE}.${key}`);
  const required = (key: string): number => {
    const found = value(key);
    if (typeof found !== "number")
      throw new CheckpointError(`${gguf.file}: metadata ${ARCHITECTURE}.${key} is missing`);
    return found;
  };
  const scaling = value("rope.scaling.type");
  if (scaling !== undefined && scaling !== "none")
    throw new CheckpointError(`${gguf.file}: rope scaling ${String(scaling)} is not supported (only default RoPE)`);
  const heads = required("attention.head_count");
  const hidden = required("embedding_length");
  const headDim = (value("attention.key_length") as number | undefined) ?? hidden / heads;
  const ropeDims = value("rope.dimension_count");
  if (ropeDims !== undefined && ropeDims !== headDim)
    throw new CheckpointError(
      `${gguf.file}: RoPE over ${String(ropeDims)} of ${headDim} head dimensions is not supported`,
    );
  const experts = (value("expert_count") as number | undefined) ?? 0;
  const tokens = gguf.metadata.get("tokenizer.ggml.tokens");
  const embedding = gguf.tensors.get("token_embd.weight");
  const vocab =
    (value("vocab_size") as number | undefined) ?? (Array.isArray(tokens) ? tokens.length : embedding?.dims[1]);
  const embeddingType = embedding?.type;
  return normaliseConfig(
    {
      architectures: [experts > 0 ? "MixtralForCausalLM" : "LlamaForCausalLM"],
      hidden_size: hidden,
      intermediate_size: required("feed_forward_length"),
      num_hidden_layers: required("block_count"),
      num_attention_heads: heads,
      num_key_value_heads: value("attention.head_count_kv") ?? heads,
      head_dim: headDim,
      vocab_size: vocab,
      max_position_embeddings: required("context_length"),
      rms_norm_eps: required("attention.layer_norm_rms_epsilon"),
      rope_theta: value("rope.freq_base") ?? 10000,
      tie_word_embeddings: !gguf.tensors.has("output.weight"),
      ...(experts > 0 ? { num_local_experts: experts, num_experts_per_tok: required("expert_used_count") } : {}),
      torch_dtype: embeddingType === "F16" ? "float16" : embeddingType === "BF16" ? "bfloat16" : "float32",
      bos_token_id: metadataNumber(gguf.metadata.get("tokenizer.ggml.bos_token_id")),
      eos_token_id: metadataNumber(gguf.metadata.get("tokenizer.ggml.eos_token_id")),
    },
    source,
  );
}

function metadataNumber(value: GgufValue | undefined): number | undefined {
  return typeof value === "number" ? value : undefined;
}
