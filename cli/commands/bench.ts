import { benchEngine } from "../engine-bench.ts";
import { defineCommand, integerList } from "../command.ts";
import { engineFromOptions, measurementOptions, modelOptions } from "../model-options.ts";

export const bench = defineCommand({
  name: "bench",
  summary: "prefill and decode speed of the engine (llama-bench's pp/tg figures), peak RSS and load time",
  options: {
    ...modelOptions,
    ...measurementOptions,
    batch: {
      type: "string",
      default: "1,8",
      placeholder: "1,8",
      description: "decode batch sizes (sequences per step)",
    },
    gen: { type: "integer", min: 1, default: "128", description: "decode steps per batch size" },
  },
  async run(values) {
    const batches = integerList(values.batch, "batch", 1);
    const { prompt, gen, depth } = values;
    const started = performance.now();
    const engine = await engineFromOptions(values, {
      maxSeqs: Math.max(...batches),
      contextLength: Math.max(prompt, depth + gen + 1, 16),
    });
    const loadSeconds = (performance.now() - started) / 1000;
    try {
      const result = await benchEngine(engine, { batches, prompt, gen, depth });
      const report = { ...result, peak_rss_mb: process.resourceUsage().maxRSS / 1024, load_s: loadSeconds };
      if (values.json) {
        console.log(JSON.stringify(report));
        return;
      }
      console.log(`model       ${values.model} (${values.quantize ?? "fp32"}, ${values.threads} threads)`);
      console.log(`load        ${report.load_s.toFixed(2)} s`);
      console.log(`prefill     ${report.prefill_tok_s.toFixed(1)} tok/s (${prompt}-token prompt)`);
      for (const [batch, speed] of Object.entries(report.decode_tok_s)) {
        const median = report.decode_median_step_tok_s[batch];
        console.log(
          `decode ×${batch.padEnd(4)} ${speed.toFixed(1)} tok/s (${gen} steps after ${depth + 1} cached; median step: ${median.toFixed(1)} tok/s)`,
        );
      }
      console.log(`peak RSS    ${report.peak_rss_mb.toFixed(0)} MB`);
    } finally {
      await engine.close();
    }
  },
});
