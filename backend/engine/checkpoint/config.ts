import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as z from "zod";

/** The architectures this engine builds; all are the same decoder, Mixtral swaps the MLP for a sparse MoE. */
export const supportedArchitectures = ["MixtralForCausalLM", "MistralForCausalLM", "LlamaForCausalLM"] as const;

const dtypeNames = { float32: "f32", bfloat16: "bf16", float16: "f16" } as const;

/**
 * quantization_config as transformers writes it into config.json for GPTQ (AutoGPTQ, GPTQModel)
 * and AWQ (AutoAWQ) checkpoints. Every method's keys are optional here: packingOf names what is
 * missing or unsupported.
 */
const quantizationConfigSchema = z.looseObject({
  quant_method: z.string(),
  bits: z.number().int().optional(),
  group_size: z.number().int().optional(),
  desc_act: z.boolean().optional(),
  sym: z.boolean().optional(),
  checkpoint_format: z.string().optional(),
  is_marlin_format: z.boolean().optional(),
  zero_point: z.boolean().optional(),
  version: z.string().optional(),
});

/** config.json as transformers 4 and 5 write it; unknown keys pass through untouched. */
export const hfConfigSchema = z.looseObject({
  architectures: z.array(z.string()).min(1),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().nullish(),
  head_dim: z.number().int().positive().nullish(),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive(),
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().optional(),
  rope_parameters: z.looseObject({ rope_theta: z.number().positive(), rope_type: z.string().optional() }).nullish(),
  rope_scaling: z.looseObject({ rope_type: z.string().optional(), type: z.string().optional() }).nullish(),
  sliding_window: z.number().int().positive().nullish(),
  tie_word_embeddings: z.boolean().optional(),
  num_local_experts: z.number().int().positive().optional(),
  num_experts_per_tok: z.number().int().positive().optional(),
  torch_dtype: z.string().optional(),
  dtype: z.string().optional(),
  bos_token_id: z.number().int().nullish(),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullish(),
  hidden_act: z.string().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  quantization_config: quantizationConfigSchema.nullish(),
});
export type HfConfig = z.infer<typeof hfConfigSchema>;

/** The normalised model description every other part of the engine reads. */
export interface ModelConfig {
  architecture: (typeof supportedArchitectures)[number];
  hiddenSize: number;
  ffnSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  slidingWindow: number | null;
  tiedEmbeddings: boolean;
  /** 0 for a dense MLP (Mistral, Llama). */
  experts: number;
  expertsPerToken: number;
  dtype: "f32" | "bf16" | "f16";
  bosTokenId: number;
  eosTokenId: number;
  /** How a GPTQ or AWQ checkpoint packs its quantised Linear weights (gptq-awq.ts); absent for float checkpoints. */
  packing?: Packing;
}

/** The group sizes MatMulNBits takes as block_size that GPTQ and AWQ checkpoints use. */
const packingGroupSizes = [32, 64, 128] as const;

/** A GPTQ or AWQ checkpoint's packing: 4-bit codes, a scale and a 4-bit zero point per group of inputs. */
export interface Packing {
  method: "gptq" | "awq";
  bits: 4;
  groupSize: (typeof packingGroupSizes)[number];
  /** GPTQ's act-order: g_idx may put an input channel in any group. */
  descAct: boolean;
  /** Added to every stored zero point: GPTQ's v1 format ("gptq") stores zero − 1, gptq_v2 and AWQ the zero itself. */
  zeroOffset: 0 | 1;
  /** GPTQ's sym: every zero point is 2^(bits−1), which vLLM's Marlin kernels assume without reading them. */
  symmetric: boolean;
}

export class CheckpointError extends Error {}

/** The packing quantization_config describes, or a CheckpointError naming what moxie does not read. */
function packingOf(raw: z.infer<typeof quantizationConfigSchema>, source: string): Packing {
  const where = `${source}: quantization_config`;
  const method = raw.quant_method;
  if (method !== "gptq" && method !== "awq")
    throw new CheckpointError(`${where}: quant_method "${method}" is not supported (gptq, awq)`);
  const name = method.toUpperCase();
  if (raw.bits !== 4) throw new CheckpointError(`${where}: ${name} with bits ${raw.bits} is not supported (4 only)`);
  const groupSize = packingGroupSizes.find((size) => size === raw.group_size);
  if (groupSize === undefined)
    throw new CheckpointError(
      `${where}: ${name} with group_size ${raw.group_size} is not supported (${packingGroupSizes.join(", ")})`,
    );
  if (method === "awq") {
    const version = raw.version ?? "gemm";
    if (version.toLowerCase() !== "gemm")
      throw new CheckpointError(
        `${where}: AWQ version "${version}" is not supported (only "gemm", AutoAWQ's GEMM packing)`,
      );
    if (raw.zero_point === false)
      throw new CheckpointError(`${where}: AWQ without zero points (zero_point: false) is not supported`);
    return { method, bits: 4, groupSize, descAct: false, zeroOffset: 0, symmetric: false };
  }
  const format = raw.checkpoint_format ?? "gptq";
  if (raw.is_marlin_format || (format !== "gptq" && format !== "gptq_v2"))
    throw new CheckpointError(
      `${where}: GPTQ checkpoint_format "${raw.is_marlin_format ? "marlin" : format}" is not supported (gptq, gptq_v2)`,
    );
  return {
    method,
    bits: 4,
    groupSize,
    descAct: raw.desc_act ?? false,
    zeroOffset: format === "gptq" ? 1 : 0,
    symmetric: raw.sym ?? true,
  };
}

export function normaliseConfig(raw: unknown, source = "config.json"): ModelConfig {
  const parsed = hfConfigSchema.safeParse(raw);
  if (!parsed.success) throw new CheckpointError(`${source}: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  const architecture = config.architectures[0];
  if (!supportedArchitectures.includes(architecture as ModelConfig["architecture"])) {
    throw new CheckpointError(
      `${source}: unsupported architecture ${architecture} (supported: ${supportedArchitectures.join(", ")})`,
    );
  }
  const ropeTheta = config.rope_parameters?.rope_theta ?? config.rope_theta ?? 10000;
  const ropeType =
    config.rope_parameters?.rope_type ?? config.rope_scaling?.rope_type ?? config.rope_scaling?.type ?? "default";
  if (ropeType !== "default")
    throw new CheckpointError(`${source}: unsupported rope type ${ropeType} (only default RoPE)`);
  if (config.hidden_act !== undefined && config.hidden_act !== "silu") {
    throw new CheckpointError(`${source}: unsupported hidden_act ${config.hidden_act} (only silu)`);
  }
  if (config.attention_bias || config.mlp_bias)
    throw new CheckpointError(`${source}: linear layers with biases (attention_bias/mlp_bias) are not supported`);
  const dtypeName = config.dtype ?? config.torch_dtype ?? "float32";
  const dtype = dtypeNames[dtypeName as keyof typeof dtypeNames];
  if (!dtype) throw new CheckpointError(`${source}: unsupported dtype ${dtypeName} (float32, bfloat16, float16)`);
  const moe = architecture === "MixtralForCausalLM";
  if (moe && (config.num_local_experts === undefined || config.num_experts_per_tok === undefined)) {
    throw new CheckpointError(`${source}: MixtralForCausalLM needs num_local_experts and num_experts_per_tok`);
  }
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads ?? heads;
  if (heads % kvHeads !== 0)
    throw new CheckpointError(
      `${source}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`,
    );
  const eos = config.eos_token_id;
  const packing = config.quantization_config && packingOf(config.quantization_config, source);
  return {
    architecture: architecture as ModelConfig["architecture"],
    hiddenSize: config.hidden_size,
    ffnSize: config.intermediate_size,
    layers: config.num_hidden_layers,
    heads,
    kvHeads,
    headDim: config.head_dim ?? config.hidden_size / heads,
    vocabSize: config.vocab_size,
    maxPositions: config.max_position_embeddings,
    rmsNormEps: config.rms_norm_eps,
    ropeTheta,
    slidingWindow: config.sliding_window ?? null,
    tiedEmbeddings: config.tie_word_embeddings ?? false,
    experts: moe ? config.num_local_experts! : 0,
    expertsPerToken: moe ? config.num_experts_per_tok! : 0,
    dtype,
    bosTokenId: config.bos_token_id ?? 1,
    eosTokenId: (Array.isArray(eos) ? eos[0] : eos) ?? 2,
    ...(packing && { packing }),
  };
}

export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new CheckpointError(`${path}: not found (a checkpoint folder needs config.json)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${path}: invalid JSON (${(error as Error).message})`);
  }
  return normaliseConfig(raw, path);
}
