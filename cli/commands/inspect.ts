import { readModelConfig } from "../../gpu-backend/engine/checkpoint/config.ts";
import { parameterCounts, weightBytes } from "../../gpu-backend/engine/parameters.ts";
import { defineCommand } from "../command.ts";

const billions = (n: number) => `${(n / 1e9).toFixed(n >= 1e10 ? 1 : 3)} B`;
const gigabytes = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

export const inspect = defineCommand({
  name: "inspect",
  summary: "architecture, parameters (total and active per token), dtype, context and weight memory of a checkpoint (config.json is enough)",
  options: {
    model: { type: "string", required: true, placeholder: "DIR", description: "checkpoint folder" },
    json: { type: "boolean", description: "one JSON object on stdout" },
  },
  async run({ model, json }) {
    const config = await readModelConfig(model);
    const parameters = parameterCounts(config);
    const memory = weightBytes(parameters.total);
    if (json) {
      console.log(JSON.stringify({ architecture: config.architecture, parameters, dtype: config.dtype, context: config.maxPositions, config, memory_bytes: memory }));
      return;
    }
    const rows = [
      ["architecture", config.architecture],
      ["layers", `${config.layers} × (hidden ${config.hiddenSize}, ffn ${config.ffnSize}, ${config.heads} heads / ${config.kvHeads} kv heads × ${config.headDim})`],
      ["experts", config.experts > 0 ? `${config.experts}, top-${config.expertsPerToken}` : "dense MLP"],
      ["parameters", `${billions(parameters.total)} total, ${billions(parameters.active)} active per token`],
      ["dtype", config.dtype],
      ["context", `${config.maxPositions} tokens${config.slidingWindow ? `, sliding window ${config.slidingWindow}` : ""}`],
      ["weights", Object.entries(memory).map(([precision, bytes]) => `${precision} ${gigabytes(bytes)}`).join(", ")],
    ];
    for (const [name, value] of rows) console.log(`${name.padEnd(13)} ${value}`);
  },
});
