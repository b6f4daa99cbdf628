import { readModelConfig } from "../../backend/engine/checkpoint/config.ts";
import { kvBytesPerToken, parameterCounts, weightBytes } from "../../backend/engine/parameters.ts";
import { defineCommand } from "../command.ts";

const billions = (n: number) => `${(n / 1e9).toFixed(n >= 1e10 ? 1 : 3)} B`;
const gigabytes = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

export const inspect = defineCommand({
  name: "inspect",
  summary:
    "architecture, parameters (total and active per token), dtype, context and weight memory of a checkpoint (config.json is enough)",
  options: {
    model: { type: "string", required: true, placeholder: "DIR", description: "checkpoint folder" },
    json: { type: "boolean", description: "one JSON object on stdout" },
  },
  async run({ model, json }) {
    const config = await readModelConfig(model);
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
    for (const [name, value] of rows) console.log(`${name.padEnd(13)} ${value}`);
  },
});
