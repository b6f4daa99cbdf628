import { readModelConfig, type ModelConfig } from "../../backend/engine/checkpoint/config.ts";
import { ggufCheckpoint } from "../../backend/engine/checkpoint/gguf/gguf-checkpoint.ts";
import { modelSource } from "../../backend/engine/checkpoint/model-source.ts";
import { describeNative } from "../../backend/engine/graph/native-quant.ts";
import { kvBytesPerToken, parameterCounts, weightBytes } from "../../backend/engine/parameters.ts";
import { defineCommand } from "../command.ts";

const billions = (n: number) => `${(n / 1e9).toFixed(n >= 1e10 ? 1 : 3)} B`;
const gigabytes = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

export const inspect = defineCommand({
  name: "inspect",
  summary:
    "architecture, parameters (total and active per token), dtype, context and weight memory of a checkpoint (config.json is enough), and a GGUF's tensor types",
  options: {
    model: {
      type: "string",
      required: true,
      placeholder: "DIR|FILE.gguf",
      description: "checkpoint folder or GGUF file",
    },
    json: { type: "boolean", description: "one JSON object on stdout" },
  },
  async run({ model, json }) {
    const { config, storedTypes } = await described(model);
    const parameters = parameterCounts(config);
    const memory = weightBytes(parameters.total);
    const kvCache = {
      f32: kvBytesPerToken(config, 4),
      f16: kvBytesPerToken(config, 2),
      int8: kvBytesPerToken(config, 1),
    };
    if (json) {
      console.log(
        JSON.stringify({
          architecture: config.architecture,
          parameters,
          dtype: config.dtype,
          context: config.maxPositions,
          config,
          memory_bytes: memory,
          kv_bytes_per_token: kvCache,
          ...(storedTypes ? { stored_types: storedTypes } : {}),
        }),
      );
      return;
    }
    const rows = [
      ["architecture", config.architecture],
      [
        "layers",
        `${config.layers} × (hidden ${config.hiddenSize}, ffn ${config.ffnSize}, ${config.heads} heads / ${config.kvHeads} kv heads × ${config.headDim})`,
      ],
      ["experts", config.experts > 0 ? `${config.experts}, top-${config.expertsPerToken}` : "dense MLP"],
      ["parameters", `${billions(parameters.total)} total, ${billions(parameters.active)} active per token`],
      ["dtype", config.dtype],
      [
        "context",
        `${config.maxPositions} tokens${config.slidingWindow ? `, sliding window ${config.slidingWindow}` : ""}`,
      ],
      [
        "weights",
        Object.entries(memory)
          .map(([precision, bytes]) => `${precision} ${gigabytes(bytes)}`)
          .join(", "),
      ],
      [
        "KV cache",
        `${Object.entries(kvCache)
          .map(([precision, bytes]) => `${precision} ${bytes < 1024 ? `${bytes} B` : `${bytes / 1024} KiB`}`)
          .join(", ")} per token; ` +
          `a full ${config.maxPositions}-token context: ${gigabytes(kvCache.f32 * config.maxPositions)} (f32, what the engine keeps)`,
      ],
    ];
    for (const { type, tensors, bytes, runsAs } of storedTypes ?? [])
      rows.push([`${type} tensors`, `${tensors}, ${gigabytes(bytes)}, run as ${runsAs}`]);
    for (const [name, value] of rows) console.log(`${name.padEnd(13)} ${value}`);
  },
});

interface StoredType {
  type: string;
  tensors: number;
  bytes: number;
  runsAs: string;
}

/** The config, and for a GGUF what its tensors are stored as (from the header alone) and how moxie runs each type. */
async function described(model: string): Promise<{ config: ModelConfig; storedTypes: StoredType[] | null }> {
  const source = modelSource(model);
  if (source.kind === "safetensors") return { config: await readModelConfig(source.dir), storedTypes: null };
  const { config, gguf } = ggufCheckpoint(source.file);
  const byType = new Map<string, StoredType>();
  for (const tensor of gguf.tensors.values()) {
    const entry = byType.get(tensor.type) ?? {
      type: tensor.type,
      tensors: 0,
      bytes: 0,
      runsAs: describeNative(tensor.type),
    };
    entry.tensors += 1;
    entry.bytes += tensor.byteLength;
    byType.set(tensor.type, entry);
  }
  return { config, storedTypes: [...byType.values()].sort((a, b) => b.bytes - a.bytes) };
}
