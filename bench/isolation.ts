/**
 * Tenant isolation on the real stack (the chaos suite's: `wrangler dev` + two `moxie serve` on the
 * tiny model): one key attacks while another streams, and the report gives the victim's time to
 * first token and p99 gap between tokens during each attack, next to a quiet baseline.
 *
 *   node --import tsx bench/isolation.ts [--victim-streams 3] [--flood 48]
 *
 * Attacks: a queue flood (one key with many long streams), schema bombs and schemas that can never
 * compile, tool-heavy prompts, floods of one character, and cross-key prefix-cache probing (the
 * attacker resends the victim's prompt and reads `cached_tokens`). test/node/isolation.test.ts runs
 * it at CI size.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { pathToFileURL } from "node:url";
import { parseScriptArgs } from "../cli/command.ts";
import { adminRequest, DEPLOYMENT, MODEL, runFacts, startStack, type Stack } from "./chaos.ts";

export interface IsolationOptions {
  /** Streams the victim runs, one after another, during each attack. */
  victimStreams: number;
  /** Long streams the flooding key holds at once. */
  flood: number;
}

/** The victim's latency while one attack runs (milliseconds). */
export interface VictimLatency {
  ttftMedianMs: number;
  ttftMaxMs: number;
  p99GapMs: number;
  /** Victim streams that did not complete with [DONE]. */
  failed: number;
}

export interface IsolationReport {
  baseline: VictimLatency;
  attacks: Record<string, VictimLatency & { attackStatuses: Record<string, number> }>;
  /** Prompt tokens the attacker found cached when it resent the victim's prompt (must be 0), and the victim's own second send. */
  cacheProbe: { attackerCachedTokens: number; victimCachedTokens: number };
  /**
   * A key with a money budget sends concurrent requests for n choices without max_tokens (the
   * issue's $45,935-on-$10 attack, scaled): what it spent against its budget once all settled.
   */
  budget: { budget: number; spent: number; admitted: number; refused: Record<string, number> };
  /** After the grammar attacks: a json_object request from the victim still answers valid JSON. */
  jsonModeAfterAttacks: boolean;
  wallSeconds: number;
  loadAverage: number[];
}

/** Several KV blocks long, so a cached prefix would show in `cached_tokens`. */
const VICTIM_PROMPT =
  "My name is Alice Martin, my account number is 4417 1234 5678 9113 and I live at 12 rue des Lilas in Lyon. " +
  "Write two sentences about the sea for my niece.";

interface Answer {
  status: number;
  body: {
    choices?: { message: { content: string } }[];
    usage?: { prompt_tokens_details?: { cached_tokens?: number } };
  };
}

function chat(gateway: string, key: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${gateway}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, ...body }),
    signal,
  });
}

async function answer(gateway: string, key: string, body: Record<string, unknown>): Promise<Answer> {
  const response = await chat(gateway, key, body);
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Answer["body"] };
}

/** One victim stream: time to its first content and the gaps between content events. */
async function victimStream(gateway: string, key: string): Promise<{ ttft: number; gaps: number[]; done: boolean }> {
  const started = performance.now();
  const response = await chat(gateway, key, {
    messages: [{ role: "user", content: VICTIM_PROMPT }],
    stream: true,
    max_tokens: 24,
    temperature: 0,
  });
  let ttft = NaN;
  let last = started;
  const gaps: number[] = [];
  if (response.status !== 200) return { ttft: performance.now() - started, gaps, done: false };
  for await (const event of response
    .body!.pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())) {
    if (event.data === "[DONE]") return { ttft, gaps, done: true };
    const now = performance.now();
    if (Number.isNaN(ttft)) ttft = now - started;
    else gaps.push(now - last);
    last = now;
  }
  return { ttft, gaps, done: false };
}

const quantile = (values: number[], q: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
};

async function victimLatency(gateway: string, key: string, streams: number): Promise<VictimLatency> {
  const runs = [];
  for (let i = 0; i < streams; i++) runs.push(await victimStream(gateway, key));
  const ttfts = runs.map((run) => run.ttft);
  return {
    ttftMedianMs: quantile(ttfts, 0.5),
    ttftMaxMs: Math.round(Math.max(...ttfts)),
    p99GapMs: quantile(
      runs.flatMap((run) => run.gaps),
      0.99,
    ),
    failed: runs.filter((run) => !run.done).length,
  };
}

/** Schemas that used to break or stall the grammar engine for every key. */
function schemaBombs(): Record<string, unknown>[] {
  const bounded = Object.fromEntries(
    Array.from({ length: 5_000 }, (_, i) => [`p${i}`, { type: "integer", minimum: i, maximum: i + 1000 }]),
  );
  return [
    { type: "object", properties: { s: { type: "string", pattern: "([" } } },
    { type: "object", properties: { s: { $ref: "#/$defs/missing" } } },
    { type: "array", items: { type: "string" }, minItems: 5, maxItems: 2 },
    { $ref: "#" },
    { type: "object", properties: bounded, required: Object.keys(bounded) },
  ];
}

/** Sixty tools with long descriptions: a prompt the gateway must count in full. */
function manyTools(): unknown[] {
  return Array.from({ length: 60 }, (_, i) => ({
    type: "function",
    function: {
      name: `tool_${i}`,
      description: "Looks up a record in the archive and returns every field it holds. ".repeat(4),
      parameters: { type: "object", properties: { id: { type: "string" }, depth: { type: "integer" } } },
    },
  }));
}

type Attack = (gateway: string, key: string) => Promise<number[]>;

function attacks(options: IsolationOptions): Record<string, Attack> {
  const many = (count: number, body: () => Record<string, unknown>): Attack => {
    return (gateway, key) =>
      Promise.all(
        Array.from({ length: count }, async () => {
          const response = await chat(gateway, key, body());
          await response.text();
          return response.status;
        }),
      );
  };
  return {
    "queue flood": many(options.flood, () => ({
      messages: [{ role: "user", content: "Tell me a very long story." }],
      max_tokens: 200,
      stream: true,
    })),
    "schema bombs": async (gateway, key) => {
      const statuses: number[] = [];
      for (let round = 0; round < 6; round++)
        for (const schema of schemaBombs()) {
          const response = await chat(gateway, key, {
            messages: [{ role: "user", content: "JSON please" }],
            max_tokens: 8,
            response_format: { type: "json_schema", json_schema: { name: "bomb", schema } },
          });
          await response.text();
          statuses.push(response.status);
        }
      return statuses;
    },
    "tool-heavy prompts": many(10, () => ({
      messages: [{ role: "user", content: "Which tool fits?" }],
      tools: manyTools(),
      max_tokens: 8,
    })),
    // 60,000 letters pass the backends' character bound (4,096 tokens × 16) and are tokenized (7,500
    // tokens: refused after); 900,000 are refused from their length alone.
    "one-character floods": async (gateway, key) =>
      (
        await Promise.all(
          [60_000, 60_000, 900_000, 900_000].map((letters) =>
            many(1, () => ({ messages: [{ role: "user", content: "a".repeat(letters) }], max_tokens: 1 }))(
              gateway,
              key,
            ),
          ),
        )
      ).flat(),
  };
}

/** A dollar a thousand tokens, so a $1 budget holds about 1,000 tokens of the tiny model. */
const PRICED_MODEL = "isolation-priced";
const BUDGET = 1;

async function budgetOverrun(gateway: string, concurrent: number): Promise<IsolationReport["budget"]> {
  await adminRequest(gateway, "PUT", `/models/${PRICED_MODEL}`, {
    deployment: DEPLOYMENT,
    type: "chat",
    max_context_length: 4096,
    price_per_million_tokens: { input: 1000, output: 1000 },
  });
  const { id, key } = await adminRequest<{ id: string; key: string }>(gateway, "POST", "/keys", {
    name: "budgeted",
    max_budget: BUDGET,
    max_concurrent: concurrent,
  });
  const statuses = await Promise.all(
    Array.from({ length: concurrent }, async () => {
      const response = await chat(gateway, key, {
        model: PRICED_MODEL,
        messages: [{ role: "user", content: "Tell me everything." }],
        n: 4,
      });
      await response.text();
      return response.status;
    }),
  );
  const refused: Record<string, number> = {};
  for (const status of statuses.filter((status) => status !== 200)) refused[status] = (refused[status] ?? 0) + 1;
  // Usage rows are written after the answers: read the spend once it stops moving.
  let spent = -1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const current = (await adminRequest<{ current: { spend: number } }>(gateway, "GET", `/keys/${id}/spend`)).current
      .spend;
    if (current === spent) break;
    spent = current;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    budget: BUDGET,
    spent: Math.round(spent * 1e6) / 1e6,
    admitted: statuses.filter((status) => status === 200).length,
    refused,
  };
}

export async function runIsolation(options: IsolationOptions): Promise<IsolationReport> {
  const started = Date.now();
  const stack: Stack = await startStack();
  try {
    const [victim, attacker] = await Promise.all(
      ["victim", "attacker"].map((name) =>
        adminRequest<{ key: string }>(stack.gateway, "POST", "/keys", {
          name,
          // The attacker's operator raised its cap: the backends' own fairness is what is measured.
          max_concurrent: name === "attacker" ? options.flood : 4,
        }),
      ),
    );
    const baseline = await victimLatency(stack.gateway, victim.key, options.victimStreams);

    const attacked: IsolationReport["attacks"] = {};
    for (const [name, attack] of Object.entries(attacks(options))) {
      const running = attack(stack.gateway, attacker.key);
      // Let the attack reach the backends before the victim starts.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const latency = await victimLatency(stack.gateway, victim.key, options.victimStreams);
      const statuses = await running;
      const attackStatuses: Record<string, number> = {};
      for (const status of statuses) attackStatuses[status] = (attackStatuses[status] ?? 0) + 1;
      attacked[name] = { ...latency, attackStatuses };
    }

    const budget = await budgetOverrun(stack.gateway, options.flood);
    const probe = { messages: [{ role: "user", content: VICTIM_PROMPT }], max_tokens: 1, temperature: 0 };
    const attackerProbe = await answer(stack.gateway, attacker.key, probe);
    const victimAgain = await answer(stack.gateway, victim.key, probe);
    const jsonMode = await answer(stack.gateway, victim.key, {
      messages: [{ role: "user", content: "Give me a JSON object." }],
      max_tokens: 16,
      response_format: { type: "json_object" },
    });
    return {
      baseline,
      attacks: attacked,
      cacheProbe: {
        attackerCachedTokens: attackerProbe.body.usage?.prompt_tokens_details?.cached_tokens ?? -1,
        victimCachedTokens: victimAgain.body.usage?.prompt_tokens_details?.cached_tokens ?? -1,
      },
      budget,
      jsonModeAfterAttacks:
        jsonMode.status === 200 && (jsonMode.body.choices?.[0].message.content ?? "").startsWith("{"),
      ...runFacts(started),
    };
  } finally {
    await stack.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const values = parseScriptArgs(
    {
      name: "bench/isolation.ts",
      summary: "one key attacks while another streams: the victim's latency during each attack",
      options: {
        "victim-streams": { type: "integer", min: 1, default: "3", description: "victim streams per attack" },
        flood: { type: "integer", min: 1, default: "48", description: "long streams the flooding key holds" },
      },
    },
    "node --import tsx",
  );
  const report = await runIsolation({ victimStreams: values["victim-streams"], flood: values.flood });
  console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}
