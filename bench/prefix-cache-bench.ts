/**
 * Second turn of a chat with prefix caching: the scheduler over the real engine (no HTTP), a first
 * turn of `--prefix` prompt tokens, then a second turn that repeats it with the answer and
 * `--new` more tokens. Reports each turn's time to first token, with the cache on and off.
 *   npx tsx bench/prefix-cache-bench.ts --model DIR [--quantize int4] [--threads 2] [--prefix 2000] [--new 32]
 */
import { parseScriptArgs } from "../cli/command.ts";
import { engineOptions, measurementOptions } from "../cli/model-options.ts";
import { loadEngine } from "../backend/engine/load-engine.ts";
import { EngineCore } from "../backend/inference/engine-core.ts";
import { optionDefaults } from "../backend/options.ts";
import { syntheticTokens } from "../cli/engine-bench.ts";

const values = parseScriptArgs({
  name: "bench/prefix-cache-bench.ts",
  summary: "time to first token of a chat's second turn, with prefix caching on and off",
  options: {
    model: engineOptions.model,
    quantize: engineOptions.quantize,
    threads: measurementOptions.threads,
    prefix: { type: "integer", min: 1, default: "2000", description: "prompt tokens of the first turn" },
    new: {
      type: "integer",
      min: 1,
      default: "32",
      description: "tokens the second turn adds after the first turn's answer",
    },
  },
});

const answerTokens = 8;
const contextLength = values.prefix + answerTokens + values.new + 2;
const engine = await loadEngine({
  model: values.model,
  quantize: values.quantize,
  threads: values.threads,
  contextLength,
  kvCacheSequences: 2,
});
const greedy = { temperature: 0, topP: 1, seed: 0, presencePenalty: 0, frequencyPenalty: 0 };

/** Milliseconds until the request's first token, then runs it to its end. */
async function timeToFirstToken(
  core: EngineCore,
  prompt: number[],
): Promise<{ ms: number; generated: number[]; cached: number }> {
  const started = performance.now();
  const [sequence] = core.scheduler.add({ prompt, maxTokens: answerTokens, choices: [greedy] });
  while (sequence.generated.length === 0) await core.step();
  const ms = performance.now() - started;
  while (core.scheduler.hasWork) await core.step();
  return { ms, generated: sequence.generated, cached: sequence.cachedTokens };
}

// Warm-up: ONNX Runtime's first runs allocate; no figure below should pay for that.
await timeToFirstToken(
  new EngineCore(engine, { maxRunning: 1, maxWaiting: 1, stepTokens: optionDefaults.stepTokens, prefixCaching: false }),
  syntheticTokens(300, engine.shape.vocabSize, 9),
);
const report: Record<string, unknown> = { prefix: values.prefix, new: values.new, quantize: values.quantize ?? "fp32" };
for (const prefixCaching of [true, false]) {
  const core = new EngineCore(engine, {
    maxRunning: 1,
    maxWaiting: 1,
    stepTokens: optionDefaults.stepTokens,
    prefixCaching,
  });
  const first = await timeToFirstToken(core, [
    engine.shape.bosTokenId,
    ...syntheticTokens(values.prefix - 1, engine.shape.vocabSize),
  ]);
  const secondPrompt = [
    engine.shape.bosTokenId,
    ...syntheticTokens(values.prefix - 1, engine.shape.vocabSize),
    ...first.generated,
    ...syntheticTokens(values.new, engine.shape.vocabSize, 3),
  ];
  const second = await timeToFirstToken(core, secondPrompt);
  report[prefixCaching ? "cache_on" : "cache_off"] = {
    first_ttft_ms: Math.round(first.ms),
    second_ttft_ms: Math.round(second.ms),
    second_cached_tokens: second.cached,
    ratio: Number((second.ms / first.ms).toFixed(3)),
  };
}
console.log(JSON.stringify(report));
await engine.close();
