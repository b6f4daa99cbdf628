/**
 * The chaos suite: the real stack — the gateway under `wrangler dev` and two real `moxie serve`
 * backends on the tiny model — under concurrent streams from several keys, one backend killed
 * (SIGKILL) mid-way and restarted, clients that disconnect at random points and malformed requests
 * interleaved. It reports how every request ended and whether the books balance once all drains.
 *
 *   node --import tsx bench/chaos.ts [--streams 200] [--malformed 1000] [--keys 4] [--seed 1]
 *
 * test/node/chaos.test.ts runs a small version of it and holds the zeros.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { execFile } from "node:child_process";
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { parseScriptArgs } from "../cli/command.ts";
import { SeededRandom } from "../backend/sampler/random.ts";
import { MAX_CHOICES, MAX_JSON_DEPTH } from "../protocol/index.ts";
import { startGatewayWorker } from "../test/node/support/local-gateway.ts";
import { startServe, type ServeProcess } from "../test/node/support/serve-process.ts";
import { fixture } from "../test/node/support/fixture.ts";

export interface ChaosOptions {
  streams: number;
  malformed: number;
  keys: number;
  /** Seeds the choice of disconnects and malformed kinds, so a run can be repeated. */
  seed: number;
  /** A request not settled by then counts as hung. */
  hangAfterMs: number;
}

export interface ChaosReport {
  streams: { completed: number; properErrors: number; clientAborted: number; hung: number };
  /** Malformed requests answered with an error in the API's shape: a 4xx, or the documented 503 while no backend can take them. */
  malformed: { sent: number; properErrors: number; hung: number };
  /** Answers with a 5xx status other than the documented 503s (must be 0). */
  undocumented5xx: number;
  /** Usage rows, request-log rows (distinct request ids) and the gateway's request counter against the requests the limiter admitted (all must be equal). */
  usageRows: number;
  logRows: number;
  countedRequests: number;
  admitted: number;
  /** Tokens the keys were charged (usage rows) against the tokens the backends report processing. */
  tokensCharged: number;
  tokensProcessed: number;
  /** After the drain: in-flight picks the pool still counts, and whether every key could again run its max_concurrent at once. */
  poolInflight: number;
  keySlotsFree: boolean;
  backendKilledAfterMs: number;
  wallSeconds: number;
  loadAverage: number[];
}

export const MODEL = "chaos-tiny";
export const DEPLOYMENT = "mixtral-tiny";
const ADMIN_TOKEN = "chaos-admin-token";
const BACKEND_SECRET = "chaos-backend-secret";
/** Slots and queue per backend; the streams above what two backends hold wait in their queues. */
const MAX_SEQS = 8;

/** Malformed requests: what each sends, and whether the limiter admits it before a backend refuses it. */
function malformedKinds(key: string): { name: string; admitted: boolean; init: RequestInit }[] {
  const post = (body: string, headers: Record<string, string> = { authorization: `Bearer ${key}` }): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const chat = (fields: Record<string, unknown>) =>
    JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], ...fields });
  const depth = MAX_JSON_DEPTH * 100;
  return [
    { name: "not json", admitted: false, init: post("{nope") },
    { name: "no auth", admitted: false, init: post(chat({}), {}) },
    { name: "wrong key", admitted: false, init: post(chat({}), { authorization: "Bearer sk-moxie-wrong" }) },
    { name: "unknown field", admitted: false, init: post(chat({ surprise: true })) },
    { name: "n too large", admitted: false, init: post(chat({ n: 60_000_000, max_tokens: 0 })) },
    {
      name: "deep json",
      admitted: false,
      init: post(`{"model": "${MODEL}", "messages": [], "metadata": ${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`),
    },
    { name: "unknown model", admitted: false, init: post(chat({ model: "no-such-model" })) },
    { name: "max_tokens beyond context", admitted: false, init: post(chat({ max_tokens: 1e12 })) },
    { name: "temperature out of range", admitted: false, init: post(chat({ temperature: 7 })) },
    // Valid for the gateway, refused by the backend (more choices than its slots): admitted, then a 400.
    {
      name: "n above the backend's slots",
      admitted: true,
      init: post(chat({ n: Math.min(MAX_SEQS + 1, MAX_CHOICES), max_tokens: 1 })),
    },
  ];
}

/** How long a run took since `started` (Date.now()), and the machine's load as it ended. */
export function runFacts(started: number): { wallSeconds: number; loadAverage: number[] } {
  return {
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

/** An admin API call on the stack's gateway, answered as JSON. */
export async function adminRequest<T>(gateway: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${gateway}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} /admin${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** The distinct request ids the request log holds for these keys, every page read. */
async function loggedRequestIds(gateway: string, keys: { id: string }[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const key of keys) {
    let cursor: string | null = "";
    while (cursor !== null) {
      const page: { data: { request_id: string }[]; next_cursor: string | null } = await adminRequest(
        gateway,
        "GET",
        `/logs?key_id=${key.id}&limit=200${cursor ? `&cursor=${cursor}` : ""}`,
      );
      for (const row of page.data) ids.add(row.request_id);
      cursor = page.next_cursor;
    }
  }
  return ids;
}

/** The requests for MODEL the gateway's Prometheus counter holds, over every label set. */
async function countedByMetrics(gateway: string): Promise<number> {
  const response = await fetch(`${gateway}/admin/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await response.text())
    .split("\n")
    .filter((line) => line.startsWith(`litellm_proxy_total_requests_metric_total{requested_model="${MODEL}"`))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

export interface Stack {
  gateway: string;
  backends: ServeProcess[];
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

/** The gateway under `wrangler dev` in front of two `moxie serve` backends on the tiny model. */
export async function startStack(): Promise<Stack> {
  const serveArgs = (port = "0") => [
    "--model",
    fixture,
    "--served-model-name",
    DEPLOYMENT,
    "--max-seqs",
    String(MAX_SEQS),
    "--threads",
    "1",
    "--port",
    port,
  ];
  const env = { MOXIE_BACKEND_SECRET: BACKEND_SECRET };
  const backends = await Promise.all([startServe(serveArgs(), env), startServe(serveArgs(), env)]);
  const worker = await startGatewayWorker({
    ADMIN_TOKEN,
    CHAOS_BACKEND_SECRET: BACKEND_SECRET,
    ALLOW_LOOPBACK_BACKENDS: "true",
    HEALTH_POLL_SECONDS: "1",
    BREAKER_COOLDOWN_SECONDS: "2",
    UPSTREAM_IDLE_SECONDS: "30",
  });
  const admin = (method: string, path: string, body: unknown) => adminRequest(worker.url, method, path, body);
  await admin("PUT", `/models/${MODEL}`, { deployment: DEPLOYMENT, type: "chat", max_context_length: 4096 });
  for (const [index, backend] of backends.entries())
    await admin("POST", "/backends", { id: `b${index}`, url: backend.url, secret_name: "CHAOS_BACKEND_SECRET" });
  return {
    gateway: worker.url,
    backends,
    async restart(index) {
      backends[index] = await startServe(serveArgs(new URL(backends[index].url).port), env);
    },
    async stop() {
      await Promise.all(backends.map((backend) => backend.stop()));
      await worker.dispose();
    },
  };
}

/** Prompt plus generated tokens a backend reports in /metrics (vLLM's counter names). */
function processedTokensIn(metrics: string): number {
  const counter = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, "m").exec(metrics)?.[1] ?? 0);
  return counter("vllm:prompt_tokens_total") + counter("vllm:generation_tokens_total");
}

/** The same, read from a live backend. */
async function processedTokens(backend: ServeProcess): Promise<number> {
  const metrics = await fetch(`${backend.url}/metrics`, {
    headers: { authorization: `Bearer ${BACKEND_SECRET}` },
  }).then((response) => response.text());
  return processedTokensIn(metrics);
}

/**
 * Reads a backend's counters and SIGKILLs it from a fresh Node process. This process's event loop,
 * busy relaying the streams, would leave tens of the backend's steps between reading and killing
 * (measured: 26–100 tokens), and those tokens would be charged but not counted as processed.
 */
async function readCountersAndKill(backend: ServeProcess): Promise<number> {
  const script = `const [url, secret, pid] = process.argv.slice(1);
    const metrics = await fetch(url, { headers: { authorization: "Bearer " + secret } }).then((r) => r.text());
    process.kill(Number(pid), "SIGKILL");
    process.stdout.write(metrics);`;
  const { stdout } = await promisify(execFile)(process.execPath, [
    "--input-type=module",
    "-e",
    script,
    `${backend.url}/metrics`,
    BACKEND_SECRET,
    String(backend.child.pid),
  ]);
  return processedTokensIn(stdout);
}

type StreamEnd = "completed" | "properError" | "clientAborted" | "hung";

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  // The sampler's seeded generator, so a seed repeats a run's choices.
  const generator = new SeededRandom(options.seed);
  const next = () => generator.next();
  const stack = await startStack();
  const admin = (method: string, path: string, body?: unknown) =>
    adminRequest<{
      id: string;
      key: string;
      data: { requests: number; total_tokens: number; inflight: number }[];
    }>(stack.gateway, method, path, body);
  let undocumented5xx = 0;
  let admitted = 0;
  const note5xx = (status: number) => {
    if (status >= 500 && status !== 503) undocumented5xx += 1;
  };
  try {
    const perKey = Math.ceil(options.streams / options.keys);
    const keys = await Promise.all(
      Array.from({ length: options.keys }, (_, index) =>
        admin("POST", "/keys", { name: `chaos-${index}`, max_concurrent: perKey }),
      ),
    );

    // Backend 0's counters die with it: read them just before the kill, and add its restarted self's at the end.
    let processedBeforeKill = 0;
    let firstEvents = 0;
    // Backend 0 dies once a quarter of the streams are under way: some of its streams mid-answer, others queued.
    const killAfterFirstEvents = Math.ceil(options.streams / 4);
    let killedAt = 0;
    let killed!: () => void;
    const killDone = new Promise<void>((resolve) => (killed = resolve));
    const kill = async () => {
      processedBeforeKill = await readCountersAndKill(stack.backends[0]);
      killedAt = Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await stack.restart(0);
      killed();
    };

    const stream = async (index: number): Promise<StreamEnd> => {
      const key = keys[index % keys.length].key;
      // A quarter of the clients leave at a random point of their stream.
      const leaveAfter = next() < 0.25 ? Math.floor(next() * 12) : Infinity;
      const controller = new AbortController();
      const hang = setTimeout(() => controller.abort(new Error("hung")), options.hangAfterMs);
      try {
        const response = await fetch(`${stack.gateway}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: MODEL,
            messages: [{ role: "user", content: `Tell me a story about ${index}.` }],
            stream: true,
            max_tokens: 16 + Math.floor(next() * 48),
          }),
          signal: controller.signal,
        });
        note5xx(response.status);
        if (response.status !== 200) {
          if (response.status !== 429) admitted += 1;
          const body = (await response.json()) as { object?: string; detail?: unknown };
          return body.object === "error" || body.detail ? "properError" : "hung";
        }
        admitted += 1;
        let events = 0;
        for await (const event of response
          .body!.pipeThrough(new TextDecoderStream())
          .pipeThrough(new EventSourceParserStream())) {
          if (event.event === "error") return "properError";
          if (event.data === "[DONE]") return "completed";
          if (++events === 1 && ++firstEvents === killAfterFirstEvents) void kill();
          if (events > leaveAfter) {
            controller.abort();
            return "clientAborted";
          }
        }
        return "properError";
      } catch {
        return controller.signal.aborted &&
          controller.signal.reason instanceof Error &&
          controller.signal.reason.message === "hung"
          ? "hung"
          : "properError";
      } finally {
        clearTimeout(hang);
      }
    };

    const kinds = malformedKinds(keys[0].key);
    const malformed = async (): Promise<{ proper: boolean; hung: boolean }> => {
      const kind = kinds[Math.floor(next() * kinds.length)];
      try {
        const response = await fetch(`${stack.gateway}/v1/chat/completions`, {
          ...kind.init,
          signal: AbortSignal.timeout(options.hangAfterMs),
        });
        note5xx(response.status);
        if (kind.admitted && response.status !== 429) admitted += 1;
        const body = (await response.json().catch(() => ({}))) as { object?: string; detail?: unknown };
        const status = response.status;
        return {
          proper:
            ((status >= 400 && status < 500) || status === 503) &&
            (body.object === "error" || body.detail !== undefined),
          hung: false,
        };
      } catch {
        return { proper: false, hung: true };
      }
    };

    const streamEnds = Promise.all(Array.from({ length: options.streams }, (_, index) => stream(index)));
    // Malformed requests go in waves of 25 while the streams run.
    const malformedEnds: { proper: boolean; hung: boolean }[] = [];
    for (let sent = 0; sent < options.malformed; sent += 25) {
      malformedEnds.push(
        ...(await Promise.all(Array.from({ length: Math.min(25, options.malformed - sent) }, () => malformed()))),
      );
    }
    const ends = await streamEnds;
    if (firstEvents >= killAfterFirstEvents) await killDone;

    // Drain: settlements run after the answers; wait until the books stop moving.
    let usageRows = 0;
    let logRows = 0;
    let countedRequests = 0;
    for (let attempt = 0; attempt < 100; attempt++) {
      usageRows = 0;
      for (const key of keys)
        usageRows += (await admin("GET", `/usage?key_id=${key.id}`)).data.reduce((sum, row) => sum + row.requests, 0);
      logRows = (await loggedRequestIds(stack.gateway, keys)).size;
      countedRequests = await countedByMetrics(stack.gateway);
      if (usageRows >= admitted && logRows >= admitted && countedRequests >= admitted) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    let tokensCharged = 0;
    for (const key of keys)
      tokensCharged += (await admin("GET", `/usage?key_id=${key.id}`)).data.reduce(
        (sum, row) => sum + row.total_tokens,
        0,
      );
    const tokensProcessed =
      processedBeforeKill + (await processedTokens(stack.backends[0])) + (await processedTokens(stack.backends[1]));
    let poolInflight = Infinity;
    for (let attempt = 0; attempt < 50 && poolInflight > 0; attempt++) {
      poolInflight = (await admin("GET", "/backends")).data.reduce((sum, backend) => sum + backend.inflight, 0);
      if (poolInflight > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Every key's slots are free when its max_concurrent requests are all admitted at once.
    const slotChecks = await Promise.all(
      keys.flatMap((key) =>
        Array.from({ length: perKey }, () =>
          fetch(`${stack.gateway}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
            body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 0 }),
          }).then(async (response) => (await response.text(), response.status)),
        ),
      ),
    );

    const count = (end: StreamEnd) => ends.filter((candidate) => candidate === end).length;
    return {
      streams: {
        completed: count("completed"),
        properErrors: count("properError"),
        clientAborted: count("clientAborted"),
        hung: count("hung"),
      },
      malformed: {
        sent: options.malformed,
        properErrors: malformedEnds.filter((end) => end.proper).length,
        hung: malformedEnds.filter((end) => end.hung).length,
      },
      undocumented5xx,
      usageRows,
      logRows,
      countedRequests,
      admitted,
      tokensCharged,
      tokensProcessed,
      poolInflight,
      keySlotsFree: slotChecks.every((status) => status !== 429),
      backendKilledAfterMs: killedAt,
      ...runFacts(started),
    };
  } finally {
    await stack.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const values = parseScriptArgs(
    {
      name: "bench/chaos.ts",
      summary: "the real stack under concurrent streams, a killed backend, disconnects and malformed requests",
      options: {
        streams: { type: "integer", min: 1, default: "200", description: "concurrent streaming requests" },
        malformed: { type: "integer", min: 0, default: "1000", description: "malformed requests interleaved" },
        keys: { type: "integer", min: 1, default: "4", description: "API keys the streams are spread over" },
        seed: { type: "integer", min: 0, default: "1", description: "seeds disconnects and malformed kinds" },
        "hang-after": {
          type: "integer",
          min: 1,
          default: "180",
          description: "seconds after which a request counts as hung",
        },
      },
    },
    "node --import tsx",
  );
  const report = await runChaos({
    streams: values.streams,
    malformed: values.malformed,
    keys: values.keys,
    seed: values.seed,
    hangAfterMs: values["hang-after"] * 1000,
  });
  console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}
