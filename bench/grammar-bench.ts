/**
 * Constrained-decoding benchmark: `moxie serve` as a real process, decode tokens/s of the same
 * requests without and with a json_schema grammar (xgrammar mask every step), at concurrency 1
 * and N, plus what the first request of a new schema pays for its compile (a small one, and one
 * near the schema limits: 1,000 required bounded integers).
 *
 *   node --import tsx bench/grammar-bench.ts --model DIR [--requests 8] [--concurrency 8] [--threads 2] [--json]
 */
import { parseScriptArgs } from "../cli/command.ts";
import { engineOptions, measurementOptions } from "../cli/model-options.ts";
import { cacheRoot } from "../backend/engine/graph/graph-cache.ts";
import { startServe } from "../test/node/support/serve-process.ts";

const values = parseScriptArgs(
  {
    name: "bench/grammar-bench.ts",
    summary: "decode tok/s with and without a json_schema grammar, and a new schema's compile cost",
    options: {
      model: engineOptions.model,
      requests: { type: "integer", min: 1, default: "8", description: "requests per measurement" },
      concurrency: {
        type: "integer",
        min: 1,
        default: "8",
        description: "requests at once in the batched measurement",
      },
      threads: measurementOptions.threads,
      json: { type: "boolean", description: "one JSON object on stdout" },
    },
  },
  "node --import tsx",
);

const secret = "bench";
const server = await startServe(
  ["--model", values.model, "--threads", String(values.threads), "--max-seqs", String(values.concurrency)],
  {
    MOXIE_BACKEND_SECRET: secret,
    MOXIE_CACHE_DIR: cacheRoot(),
  },
);
const model = (
  (await (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).json()) as {
    data: { id: string }[];
  }
).data[0].id;

/** A fixed-length string keeps a random-weight model decoding about as long as the unconstrained requests. */
const TEXT_CHARACTERS = 200;
const schema = (variant: number) => ({
  type: "object",
  properties: {
    text: { type: "string", minLength: TEXT_CHARACTERS, maxLength: TEXT_CHARACTERS },
    variant: { const: variant },
  },
  required: ["text", "variant"],
});

/** About the largest schema SCHEMA_LIMITS allows: 1,000 required bounded integers (60 KB). */
const largest = (() => {
  const properties = Object.fromEntries(
    Array.from({ length: 1000 }, (_, i) => [`p${i}`, { type: "integer", minimum: 0, maximum: 1000 + i }]),
  );
  return { type: "object", properties, required: Object.keys(properties) };
})();

async function complete(seed: number, body: Record<string, unknown>): Promise<{ tokens: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      messages: [{ role: "user", content: `Describe item ${seed}.` }],
      random_seed: seed,
      ...body,
    }),
  });
  const answer = (await response.json()) as { usage: { completion_tokens: number } };
  return { tokens: answer.usage.completion_tokens, ms: performance.now() - started };
}

/** Decode tok/s of `requests` requests run `concurrency` at a time: generated tokens / wall time. */
async function rate(
  concurrency: number,
  body: (seed: number) => Record<string, unknown>,
  maxTokens: number,
): Promise<{ tokPerS: number; tokens: number }> {
  const started = performance.now();
  let tokens = 0;
  for (let first = 0; first < values.requests; first += concurrency) {
    const wave = Array.from({ length: Math.min(concurrency, values.requests - first) }, (_, i) => first + i);
    for (const result of await Promise.all(
      wave.map((seed) => complete(seed, { max_tokens: maxTokens, ...body(seed) })),
    ))
      tokens += result.tokens;
  }
  return { tokPerS: (tokens / (performance.now() - started)) * 1000, tokens: Math.round(tokens / values.requests) };
}

try {
  // The compile a new schema costs its first request, against the same request once cached.
  const uncached = await complete(0, {
    max_tokens: 1,
    response_format: { type: "json_schema", json_schema: { name: "b", schema: schema(-1) } },
  });
  const cached = await complete(0, {
    max_tokens: 1,
    response_format: { type: "json_schema", json_schema: { name: "b", schema: schema(-1) } },
  });
  const largeFormat = { type: "json_schema", json_schema: { name: "large", schema: largest } };
  const largeUncached = await complete(0, { max_tokens: 1, response_format: largeFormat });
  const largeCached = await complete(0, { max_tokens: 1, response_format: largeFormat });
  const constrained = (seed: number) => ({
    temperature: 1,
    response_format: { type: "json_schema", json_schema: { name: "b", schema: schema(seed % 2) } },
  });
  const results = [];
  for (const concurrency of [1, values.concurrency]) {
    const grammar = await rate(concurrency, constrained, 1000);
    const plain = await rate(concurrency, () => ({ temperature: 1 }), grammar.tokens);
    results.push({
      concurrency,
      plain_tok_s: plain.tokPerS,
      grammar_tok_s: grammar.tokPerS,
      tokens_per_request: grammar.tokens,
      slowdown: 1 - grammar.tokPerS / plain.tokPerS,
    });
  }
  const summary = {
    model,
    first_request_ms: uncached.ms,
    cached_request_ms: cached.ms,
    largest_schema_first_request_ms: largeUncached.ms,
    largest_schema_cached_request_ms: largeCached.ms,
    results,
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${model}: a new schema's first request ${uncached.ms.toFixed(0)} ms, the same schema cached ${cached.ms.toFixed(0)} ms`,
    );
    console.log(
      `the largest schema the limits allow: first request ${largeUncached.ms.toFixed(0)} ms, cached ${largeCached.ms.toFixed(0)} ms`,
    );
    for (const row of results) {
      console.log(
        `concurrency ${row.concurrency}: ${row.plain_tok_s.toFixed(1)} tok/s plain, ${row.grammar_tok_s.toFixed(1)} tok/s with json_schema (${(row.slowdown * 100).toFixed(0)}% slower, ${row.tokens_per_request} tokens/request)`,
      );
    }
  }
} finally {
  await server.stop();
}
