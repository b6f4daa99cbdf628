import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import * as z from "zod";
import { CheckpointError, readModelConfig, type ModelConfig } from "./config.ts";
import { readSafetensorsHeader, type TensorEntry } from "./safetensors.ts";
import { readTensorF32 } from "./tensor-data.ts";
import { ggufCheckpoint } from "./gguf/gguf-checkpoint.ts";
import { assemblePackedLinears } from "./gptq-awq.ts";
import { modelSource } from "./model-source.ts";
import { tensorNames } from "./tensor-names.ts";

/** Hugging Face tensor names of the weights the graph needs, with the shape each must have. */
export function expectedTensors(config: ModelConfig): { name: string; shape: number[] }[] {
  const { hiddenSize: h, ffnSize: f, heads, kvHeads, headDim: d, vocabSize: v, experts } = config;
  const tensors = [
    { name: tensorNames.embedding, shape: [v, h] },
    { name: tensorNames.finalNorm, shape: [h] },
  ];
  if (!config.tiedEmbeddings) tensors.push({ name: tensorNames.lmHead, shape: [v, h] });
  for (let layer = 0; layer < config.layers; layer++) {
    const names = tensorNames.layer(layer);
    tensors.push(
      { name: names.inputNorm, shape: [h] },
      { name: names.postAttentionNorm, shape: [h] },
      { name: names.query, shape: [heads * d, h] },
      { name: names.key, shape: [kvHeads * d, h] },
      { name: names.value, shape: [kvHeads * d, h] },
      { name: names.output, shape: [h, heads * d] },
    );
    // The order is the one random checkpoints are written in (the same seed must give the same weights).
    if (experts > 0) {
      tensors.push({ name: names.router, shape: [experts, h] });
      for (let e = 0; e < experts; e++) {
        const expert = names.expert(e);
        tensors.push(
          { name: expert.gate, shape: [f, h] },
          { name: expert.down, shape: [h, f] },
          { name: expert.up, shape: [f, h] },
        );
      }
    } else {
      tensors.push(
        { name: names.mlp.gate, shape: [f, h] },
        { name: names.mlp.up, shape: [f, h] },
        { name: names.mlp.down, shape: [h, f] },
      );
    }
  }
  return tensors;
}

const shardIndexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

/** A checkpoint folder: its config and where every needed tensor is, validated before anything heavy runs. */
export interface Checkpoint {
  /** The folder, or the GGUF file. */
  dir: string;
  config: ModelConfig;
  tensors: Map<string, TensorEntry>;
  /** Files holding the weights, for cache keys. */
  files: string[];
}

async function weightFiles(dir: string): Promise<string[]> {
  const indexPath = join(dir, "model.safetensors.index.json");
  if (existsSync(indexPath)) {
    const parsed = shardIndexSchema.safeParse(JSON.parse(await readFile(indexPath, "utf8")));
    if (!parsed.success) throw new CheckpointError(`${indexPath}: ${z.prettifyError(parsed.error)}`);
    const files = [...new Set(Object.values(parsed.data.weight_map))].sort();
    for (const file of files)
      if (!existsSync(join(dir, file))) throw new CheckpointError(`${indexPath}: shard ${file} is missing`);
    return files.map((file) => join(dir, file));
  }
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return [single];
  const shards = (await readdir(dir)).filter((name) => name.endsWith(".safetensors")).sort();
  if (shards.length === 0) throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  return shards.map((file) => join(dir, file));
}

/**
 * The checkpoint `--model` names: a Hugging Face folder (config.json and safetensors, float or
 * GPTQ/AWQ-packed) or a GGUF file. Either way every tensor the graph needs is checked for
 * presence and shape up front, so metadata that contradicts the tensors fails here, naming the
 * tensor.
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  const source = modelSource(path);
  const { dir, config, tensors, files } =
    source.kind === "gguf"
      ? { dir: source.file, files: [source.file], ...ggufCheckpoint(source.file) }
      : await safetensorsCheckpoint(source.dir);
  for (const { name, shape } of expectedTensors(config)) {
    const entry = tensors.get(name);
    if (!entry) throw new CheckpointError(`${dir}: missing tensor ${name}`);
    if (entry.shape.join(",") !== shape.join(",")) {
      throw new CheckpointError(
        `${dir}: tensor ${name} has shape [${entry.shape.join(",")}], expected [${shape.join(",")}] from the model's config`,
      );
    }
  }
  return { dir, config, tensors, files };
}

async function safetensorsCheckpoint(dir: string) {
  const config = await readModelConfig(dir);
  const files = await weightFiles(dir);
  const tensors = new Map<string, TensorEntry>();
  for (const file of files) for (const entry of await readSafetensorsHeader(file)) tensors.set(entry.name, entry);
  assemblePackedLinears(tensors, config.packing, dir);
  return { dir, config, tensors, files };
}

/** Bytes of all its tensors as stored. */
export function storedBytes(checkpoint: Checkpoint): number {
  return [...checkpoint.tensors.values()].reduce((sum, entry) => sum + entry.byteLength, 0);
}

/** Reads one named tensor as float32, whatever its stored dtype. */
export function readWeight(checkpoint: Checkpoint, name: string): Float32Array {
  const entry = checkpoint.tensors.get(name);
  if (!entry) throw new CheckpointError(`${checkpoint.dir}: missing tensor ${name}`);
  return readTensorF32(entry);
}
