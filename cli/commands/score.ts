import { logSumExp } from "../../backend/sampler/logits.ts";
import { argmax } from "../../backend/sampler/sampler.ts";
import { defineCommand, integerList } from "../command.ts";
import { engineFromOptions, modelOptions } from "../model-options.ts";

export const score = defineCommand({
  name: "score",
  summary:
    "next-token argmax, its log-probability and logsumexp at every position of a token sequence (no tokenizer needed)",
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
      const argmaxes = rows.map(argmax);
      const logsumexp = rows.map(logSumExp);
      // The argmax's log-softmax: what greedy decoding reports as each token's logprob.
      const argmaxLogprob = rows.map((row, t) => row[argmaxes[t]] - logsumexp[t]);
      const result: Record<string, unknown> = { argmax: argmaxes, argmax_logprob: argmaxLogprob, logsumexp };
      if (values["last-logits"]) result.last_logits = Array.from(rows[rows.length - 1]);
      console.log(JSON.stringify(result));
    } finally {
      await engine.close();
    }
  },
});
