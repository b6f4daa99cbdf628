import { loadTokenizer } from "../../gpu-backend/text/tokenizer.ts";
import { defineCommand, UsageError } from "../command.ts";
import { engineFromOptions, modelOptions, parseIds } from "../model-options.ts";

export const embed = defineCommand({
  name: "embed",
  summary: "pooled, L2-normalised final hidden state of a text (or of token ids)",
  options: {
    ...modelOptions,
    text: { type: "string", placeholder: "TEXT", description: "text to embed (needs the checkpoint's tokenizer.json)" },
    ids: { type: "string", placeholder: "1,415,2936", description: "token ids to embed instead of text" },
    pooling: { type: "string", default: "mean", placeholder: "mean|last", description: "how positions are pooled" },
  },
  async run(values) {
    if ((values.text === undefined) === (values.ids === undefined)) throw new UsageError("give exactly one of --text and --ids");
    const pooling = values.pooling;
    if (pooling !== "mean" && pooling !== "last") throw new UsageError(`--pooling must be mean or last, got '${pooling}'`);
    const ids = values.text !== undefined ? (await loadTokenizer(values.model)).encode(values.text, { bos: true }) : parseIds(values.ids!);
    const engine = await engineFromOptions(values, { contextLength: ids.length });
    try {
      const [embedding] = await engine.embed([ids], pooling);
      console.log(JSON.stringify({ embedding: Array.from(embedding) }));
    } finally {
      await engine.close();
    }
  },
});
