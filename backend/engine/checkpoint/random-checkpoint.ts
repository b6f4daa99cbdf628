import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectedTensors } from "./checkpoint.ts";
import { normaliseConfig } from "./config.ts";
import type { TensorDtype } from "./safetensors.ts";
import { writeSafetensors } from "./safetensors-writer.ts";

const torchDtypes: Record<TensorDtype, string> = { F32: "float32", BF16: "bfloat16", F16: "float16" };

/** mulberry32: a small seeded generator, so the same seed writes the same checkpoint. */
export function uniformGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomCheckpointOptions {
  seed?: number;
  dtype?: TensorDtype;
  configOnly?: boolean;
  shards?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes config.json and random weights in the Hugging Face layout: linear weights uniform with
 * the config's initializer_range as standard deviation, norm weights 1 (as a fresh HF model has).
 */
export function writeRandomCheckpoint(
  dir: string,
  hfConfig: Record<string, unknown>,
  options: RandomCheckpointOptions = {},
): void {
  const dtype = options.dtype ?? "F32";
  const raw: Record<string, unknown> = { ...hfConfig, torch_dtype: torchDtypes[dtype] };
  const config = normaliseConfig(raw);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(raw, null, 2)}\n`);
  if (options.configOnly) return;
  const random = uniformGenerator(options.seed ?? 0);
  const range = (typeof raw.initializer_range === "number" ? raw.initializer_range : 0.02) * Math.sqrt(3);
  const specs = expectedTensors(config);
  const total = specs.length;
  let done = 0;
  writeSafetensors(
    dir,
    specs,
    (spec) => {
      const values = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      if (spec.shape.length === 1) values.fill(1);
      else for (let i = 0; i < values.length; i++) values[i] = (2 * random() - 1) * range;
      options.onProgress?.(++done, total);
      return values;
    },
    dtype,
    options.shards ?? 1,
  );
}
