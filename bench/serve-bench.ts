/**
 * Serving benchmark: `moxie serve` as a real process, N concurrent streaming chat requests over
 * HTTP, for each N in --streams. Reports aggregate decode tok/s (generated tokens / wall time of
 * the wave), time to first token and inter-token latency (p50, p99) as clients see them.
 * With --url it measures another OpenAI-compatible server instead (llama-server, for the
 * side-by-side comparison), with the same client.
 *
 *   node --import tsx bench/serve-bench.ts --model DIR [--quantize int4] [--kv-cache-dtype float16]
 *        [--spinning] [--streams 1,8,32] [--gen 128] [--threads 2] [--json]
 *   node --import tsx bench/serve-bench.ts --url http://127.0.0.1:8080 [--streams 1,8] [--gen 64]
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { integerList, parseScriptArgs } from "../cli/command.ts";
import { engineOptions, measurementOptions } from "../cli/model-options.ts";
import { cacheRoot } from "../backend/engine/graph/graph-cache.ts";
import { startServe } from "../test/node/support/serve-process.ts";

const values = parseScriptArgs(
  {
    name: "bench/serve-bench.ts",
    summary: "moxie serve under N concurrent streaming chat requests: aggregate tok/s, TTFT and ITL",
    options: {
      model: { ...engineOptions.model, required: false },
      url: {
        type: "string",
        placeholder: "URL",
        description: "measure this running server instead of starting moxie serve",
      },
      "api-key": { type: "string", default: "bench", description: "bearer token for --url" },
      quantize: engineOptions.quantize,
      "quant-group-size": engineOptions["quant-group-size"],
      "kv-cache-dtype": engineOptions["kv-cache-dtype"],
      spinning: engineOptions.spinning,
      streams: {
        type: "string",
        default: "1,8,32",
        placeholder: "1,8,32",
        description: "concurrent streams of each wave",
      },
      gen: { type: "integer", min: 1, default: "128", description: "tokens per stream" },
      threads: measurementOptions.threads,
      json: { type: "boolean", description: "one JSON object on stdout" },
    },
  },
  "node --import tsx",
);
const waves = integerList(values.streams, "streams", 1);
const gen = values.gen;

const secret = values["api-key"];
async function startMoxie() {
  if (!values.model) throw new Error("bench/serve-bench.ts: --model or --url is required");
  const args = ["--model", values.model, "--threads", String(values.threads), "--max-seqs", String(Math.max(...waves))];
  if (values.quantize) args.push("--quantize", values.quantize);
  if (values["quant-group-size"]) args.push("--quant-group-size", values["quant-group-size"]);
  args.push("--kv-cache-dtype", values["kv-cache-dtype"]);
  if (values.spinning) args.push("--spinning");
  // The default graph cache, so a checkpoint's graph is built once across runs.
  return startServe(args, { MOXIE_BACKEND_SECRET: secret, MOXIE_CACHE_DIR: cacheRoot() });
}
const server = values.url ? undefined : await startMoxie();
const url = values.url ?? server!.url;
const serverName =
  values.url ?? `moxie serve on ${values.model} (${values.quantize ?? "fp32"}, ${values.threads} threads)`;
const model = (
  (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).json()) as {
    data: { id: string }[];
  }
).data[0].id;

interface StreamTiming {
  tokens: number;
  firstTokenMs: number;
  gapsMs: number[];
}

/** One streaming request; each content chunk is one token's text (or several, if a character needed them). */
async function stream(seed: number): Promise<StreamTiming> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      messages: [{ role: "user", content: `Write a story about the number ${seed}.` }],
      max_tokens: gen,
      temperature: 0.7,
      seed,
      stream: true,
    }),
  });
  const arrivals: number[] = [];
  let tokens = 0;
  for await (const { data } of response
    .body!.pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())) {
    if (data === "[DONE]") continue;
    const chunk = JSON.parse(data);
    if (chunk.choices[0]?.delta.content) arrivals.push(performance.now());
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  // A server that reports no usage while streaming sends one token per content chunk.
  tokens ||= arrivals.length;
  return { tokens, firstTokenMs: arrivals[0] - started, gapsMs: arrivals.slice(1).map((at, i) => at - arrivals[i]) };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const round = (value: number) => Math.round(value * 10) / 10;

await stream(0); // warm-up
const results = [];
for (const streams of waves) {
  const started = performance.now();
  const timings = await Promise.all(Array.from({ length: streams }, (_, i) => stream(i + 1)));
  const seconds = (performance.now() - started) / 1000;
  const tokens = timings.reduce((sum, timing) => sum + timing.tokens, 0);
  const gaps = timings.flatMap((timing) => timing.gapsMs);
  const ttft = timings.map((timing) => timing.firstTokenMs);
  results.push({
    streams,
    aggregate_tok_s: round(tokens / seconds),
    per_stream_tok_s: round(tokens / seconds / streams),
    ttft_ms: { p50: round(percentile(ttft, 50)), p99: round(percentile(ttft, 99)) },
    itl_ms: { p50: round(percentile(gaps, 50)), p99: round(percentile(gaps, 99)) },
  });
}
await server?.stop();

if (values.json) console.log(JSON.stringify({ server: serverName, gen, results }));
else {
  console.log(`${serverName}, ${gen} tokens per stream`);
  console.log("| streams | aggregate tok/s | per stream tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |");
  console.log("|---|---|---|---|---|");
  for (const r of results)
    console.log(
      `| ${r.streams} | ${r.aggregate_tok_s} | ${r.per_stream_tok_s} | ${r.ttft_ms.p50} / ${r.ttft_ms.p99} | ${r.itl_ms.p50} / ${r.itl_ms.p99} |`,
    );
}
