import { logSumExp } from "../../gpu-backend/engine/logits.ts";
import { argmax } from "../../gpu-backend/sampler/sampler.ts";
import { defineCommand, integerList } from "../command.ts";
import { engineFromOptions, modelOptions } from "../model-options.ts";

export const score = defineCommand({
  name: "score",
  summary: "next-token argmax and logsumexp at every position of a token sequence (no tokenizer needed)",
  options: {
    ...modelOptions,
    ids: { type: "string", required: true, placeholder: "1,415,2936", description: "input token ids" },
    "last-logits": { type: "boolean", description: "also print the full last-position logits" },
  },
  async run(values) {
    const ids = integerList(values.ids, "ids");
    const engine = await engineFromOptions(values, { maxSeqs: 1, contextLength: ids.length });
    try {
      const [{ logits }] = await engine.evaluate([ids]);
      const vocab = engine.shape.vocabSize;
      const rows = ids.map((_, t) => logits.subarray(t * vocab, (t + 1) * vocab));
      const result: Record<string, unknown> = { argmax: rows.map(argmax), logsumexp: rows.map(logSumExp) };
      if (values["last-logits"]) result.last_logits = Array.from(rows[rows.length - 1]);
      console.log(JSON.stringify(result));
    } finally {
      await engine.close();
    }
  },
});
