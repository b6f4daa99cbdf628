/**
 * Gateway overhead on a streamed completion: time to first byte and to the end of the stream,
 * straight from the backend vs through the worker under `wrangler dev` (workerd, D1, both Durable
 * Objects on every request). Run: npx tsx bench/gateway-sse.ts [requests]
 */
import { startLocalGateway } from "../test/node/support/local-gateway.ts";

const requests = Number(process.argv[2] ?? 100);
const gateway = await startLocalGateway({ deltas: 32, delayMs: 0 });

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

try {
  const created = await fetch(`${gateway.url}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench" }),
  });
  const { key } = (await created.json()) as { key: string };
  await fetch(`${gateway.url}/admin/models/bench`, {
    method: "PUT",
    headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      deployment: "mixtral-8x7b-instruct",
      type: "chat",
      max_context_length: 4096,
      aliases: ["mixtral-8x7b-instruct"],
    }),
  });
  const targets = {
    backend: () => timeStream(`${gateway.backendUrl}/v1/chat/completions`, "Bearer local-backend-secret"),
    gateway: () => timeStream(`${gateway.url}/v1/chat/completions`, `Bearer ${key}`),
  };
  // wrangler dev's own hop (its proxy worker, workerd's HTTP): a route that does no gateway work.
  const baseline = [];
  for (let index = 0; index < requests; index++) {
    const started = performance.now();
    await (await fetch(`${gateway.url}/no-such-route`)).arrayBuffer();
    baseline.push(performance.now() - started);
  }
  console.log(
    `wrangler dev baseline (a 404 route) p50 ${percentile(baseline, 50).toFixed(2)} ms  p99 ${percentile(baseline, 99).toFixed(2)} ms`,
  );
  for (const [name, measure] of Object.entries(targets)) {
    for (let warmup = 0; warmup < 10; warmup++) await measure();
    const samples = [];
    for (let index = 0; index < requests; index++) samples.push(await measure());
    const first = samples.map((sample) => sample.firstByte);
    const total = samples.map((sample) => sample.total);
    console.log(
      `${name.padEnd(8)} first byte p50 ${percentile(first, 50).toFixed(2)} ms  p99 ${percentile(first, 99).toFixed(2)} ms   whole stream (34 events) p50 ${percentile(total, 50).toFixed(2)} ms  p99 ${percentile(total, 99).toFixed(2)} ms`,
    );
  }
} finally {
  await gateway.dispose();
}
