/**
 * Gateway overhead on a streamed completion: time to first byte and to the end of the stream,
 * straight from the backend vs through the worker under `wrangler dev` (workerd, D1, both Durable
 * Objects on every request), with the request log off, on, and on with bodies (a key with
 * log_bodies). The targets take turns in rounds of 10 requests, so a noisy machine slows all alike.
 * Run: npx tsx bench/gateway-sse.ts [requests per target]
 */
import { startLocalGateway, type LocalGateway } from "../test/node/support/local-gateway.ts";

const requests = Number(process.argv[2] ?? 100);
const ROUND = 10;
const behaviour = { deltas: 32, delayMs: 0 };
const withoutLog = await startLocalGateway(behaviour, { REQUEST_LOG: "false" });
const withLog = await startLocalGateway(behaviour);

async function timeStream(url: string, authorization: string): Promise<{ firstByte: number; total: number }> {
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization, "content-type": "application/json" },
    body: JSON.stringify({
      model: "mixtral-8x7b-instruct",
      stream: true,
      messages: [{ role: "user", content: "Hello" }],
    }),
  });
  const reader = response.body!.getReader();
  await reader.read();
  const firstByte = performance.now() - started;
  while (!(await reader.read()).done);
  return { firstByte, total: performance.now() - started };
}

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];

/** A key on the gateway (logging bodies or not) and the model the fake backend serves. */
async function prepare(gateway: LocalGateway, logBodies: boolean): Promise<string> {
  const admin = (method: string, path: string, body: unknown) =>
    fetch(`${gateway.url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  await admin("PUT", "/models/bench", {
    deployment: "mixtral-8x7b-instruct",
    type: "chat",
    max_context_length: 4096,
    aliases: ["mixtral-8x7b-instruct"],
  });
  const created = await admin("POST", "/keys", { name: "bench", log_bodies: logBodies });
  return ((await created.json()) as { key: string }).key;
}

try {
  const keys = {
    off: await prepare(withoutLog, false),
    on: await prepare(withLog, false),
    bodies: await prepare(withLog, true),
  };
  const targets = {
    backend: () => timeStream(`${withLog.backendUrl}/v1/chat/completions`, "Bearer local-backend-secret"),
    "log off": () => timeStream(`${withoutLog.url}/v1/chat/completions`, `Bearer ${keys.off}`),
    "log on": () => timeStream(`${withLog.url}/v1/chat/completions`, `Bearer ${keys.on}`),
    "log+bodies": () => timeStream(`${withLog.url}/v1/chat/completions`, `Bearer ${keys.bodies}`),
  };
  const samples = new Map(Object.keys(targets).map((name) => [name, [] as { firstByte: number; total: number }[]]));
  for (const measure of Object.values(targets)) for (let warmup = 0; warmup < 10; warmup++) await measure();
  for (let round = 0; round < requests / ROUND; round++)
    for (const [name, measure] of Object.entries(targets))
      for (let index = 0; index < ROUND; index++) samples.get(name)!.push(await measure());
  for (const [name, taken] of samples) {
    const first = taken.map((sample) => sample.firstByte);
    const total = taken.map((sample) => sample.total);
    console.log(
      `${name.padEnd(10)} first byte p50 ${percentile(first, 50).toFixed(2)} ms  p99 ${percentile(first, 99).toFixed(2)} ms   whole stream (34 events) p50 ${percentile(total, 50).toFixed(2)} ms  p99 ${percentile(total, 99).toFixed(2)} ms`,
    );
  }
} finally {
  await Promise.all([withoutLog.dispose(), withLog.dispose()]);
}
