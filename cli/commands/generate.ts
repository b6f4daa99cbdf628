import { reservedBlocks } from "../../backend/engine/engine.ts";
import { Sampler } from "../../backend/sampler/sampler.ts";
import { defineCommand, integerList } from "../command.ts";
import { engineFromOptions, modelOptions } from "../model-options.ts";

export const generate = defineCommand({
  name: "generate",
  summary: "continue a token sequence through the KV cache (temperature 0 = greedy; no tokenizer needed)",
  options: {
    ...modelOptions,
    ids: { type: "string", required: true, placeholder: "1,415,2936", description: "prompt token ids" },
    "max-tokens": { type: "integer", min: 1, required: true, description: "tokens to generate" },
    temperature: { type: "number", min: 0, default: "0", placeholder: "T", description: "sampling temperature" },
    seed: { type: "integer", default: "0", placeholder: "S", description: "sampling seed" },
    "stop-at-eos": { type: "boolean", description: "stop after the end-of-sequence token" },
  },
  async run(values) {
    const ids = integerList(values.ids, "ids");
    const { "max-tokens": maxTokens, temperature, seed } = values;
    const engine = await engineFromOptions(values, { maxSeqs: 1, contextLength: ids.length + maxTokens });
    try {
      const sampler = new Sampler({ temperature, topP: 1, seed, presencePenalty: 0, frequencyPenalty: 0 });
      const generated: number[] = [];
      const blocks = reservedBlocks(engine.shape, 0);
      let [logits] = await engine.forward([{ blocks, past: 0, tokens: ids }]);
      while (generated.length < maxTokens) {
        const token = sampler.sample(logits);
        generated.push(token);
        if ((values["stop-at-eos"] && token === engine.shape.eosTokenId) || generated.length === maxTokens) break;
        [logits] = await engine.forward([{ blocks, past: ids.length + generated.length - 1, tokens: [token] }]);
      }
      console.log(JSON.stringify({ ids: generated }));
    } finally {
      await engine.close();
    }
  },
});
