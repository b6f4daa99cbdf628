import { Sampler } from "../../gpu-backend/sampler/sampler.ts";
import { defineCommand, UsageError } from "../command.ts";
import { engineFromOptions, modelOptions, parseIds, positiveInteger } from "../model-options.ts";

export const generate = defineCommand({
  name: "generate",
  summary: "continue a token sequence through the KV cache (temperature 0 = greedy; no tokenizer needed)",
  options: {
    ...modelOptions,
    ids: { type: "string", required: true, placeholder: "1,415,2936", description: "prompt token ids" },
    "max-tokens": { type: "string", required: true, placeholder: "N", description: "tokens to generate" },
    temperature: { type: "string", default: "0", placeholder: "T", description: "sampling temperature" },
    seed: { type: "string", default: "0", placeholder: "S", description: "sampling seed" },
    "stop-at-eos": { type: "boolean", description: "stop after the end-of-sequence token" },
  },
  async run(values) {
    const ids = parseIds(values.ids);
    const maxTokens = positiveInteger(values["max-tokens"], "max-tokens")!;
    const temperature = Number(values.temperature);
    if (!Number.isFinite(temperature) || temperature < 0) throw new UsageError(`--temperature must be a number >= 0, got '${values.temperature}'`);
    const seed = Number(values.seed);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${values.seed}'`);
    const engine = await engineFromOptions(values, { contextLength: ids.length + maxTokens });
    try {
      const sampler = new Sampler({ temperature, topP: 1, seed, presencePenalty: 0, frequencyPenalty: 0 });
      const generated: number[] = [];
      let [logits] = await engine.forward([{ slot: 0, tokens: ids }]);
      while (generated.length < maxTokens) {
        const token = sampler.sample(logits);
        generated.push(token);
        if ((values["stop-at-eos"] && token === engine.shape.eosTokenId) || generated.length === maxTokens) break;
        [logits] = await engine.forward([{ slot: 0, tokens: [token] }]);
      }
      console.log(JSON.stringify({ ids: generated }));
    } finally {
      await engine.close();
    }
  },
});
