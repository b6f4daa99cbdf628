import { loadTokenizer } from "../../backend/text/tokenizer.ts";
import { defineCommand, integerList, UsageError } from "../command.ts";
import { engineFromOptions, modelOptions, poolingOption } from "../model-options.ts";

export const embed = defineCommand({
  name: "embed",
  summary: "pooled, L2-normalised final hidden state of a text (or of token ids)",
  options: {
    ...modelOptions,
    text: { type: "string", placeholder: "TEXT", description: "text to embed (needs the checkpoint's tokenizer)" },
    ids: { type: "string", placeholder: "1,415,2936", description: "token ids to embed instead of text" },
    pooling: poolingOption,
  },
  async run(values) {
    if ((values.text === undefined) === (values.ids === undefined))
      throw new UsageError("give exactly one of --text and --ids");
    const ids =
      values.text !== undefined
        ? (await loadTokenizer(values.model)).encode(values.text, { bos: true })
        : integerList(values.ids!, "ids");
    const engine = await engineFromOptions(values, { maxSeqs: 1, contextLength: ids.length });
    try {
      const [embedding] = await engine.embed([ids], values.pooling);
      console.log(JSON.stringify({ embedding: Array.from(embedding) }));
    } finally {
      await engine.close();
    }
  },
});
