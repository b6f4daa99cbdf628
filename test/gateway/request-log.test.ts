import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LogRetention } from "../../gateway/config.ts";
import type { LoggedRequest } from "../../gateway/logs/logged-request.ts";
import { logStatements } from "../../gateway/logs/request-log.ts";
import type { CollectedSpan } from "../node/support/otlp-spans.ts";
import { adminCall, chat, createKey, eventually, gateway, pollBackends, scenario } from "./gateway-client.ts";

interface LogPage {
  data: LoggedRequest[];
  next_cursor: string | null;
}

const logs = async (query: string): Promise<LogPage> => (await adminCall("GET", `/logs?${query}`)).json();

/** The request's log row, once its settlement (after the response) has written it. */
const loggedRow = (requestId: string) =>
  eventually(async () => {
    const response = await adminCall("GET", `/logs/${requestId}`);
    return response.status === 200 ? response.json<LoggedRequest & { bodies: unknown }>() : undefined;
  });

const metricsText = async () => (await adminCall("GET", "/metrics")).text();

/** The value of one sample in the exposition ("name{labels}" matched whole, labels in their order). */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("request log", () => {
  it("logs one row per admitted request, streamed or not, with its tokens, timings, backend and trace", async () => {
    const { model, backends } = await scenario("log-basic", 1, { deltas: 3, delayMs: 20 });
    const { id: keyId, key } = await createKey();
    const plain = await chat(key, { model }, { "x-request-id": "client-log-basic-1" });
    expect(plain.status).toBe(200);
    await plain.text();
    const streamed = await chat(
      key,
      { model: `alias-log-basic`, stream: true },
      { traceparent: `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01` },
    );
    expect(await streamed.text()).toContain("[DONE]");

    const plainRow = await loggedRow(plain.headers.get("x-request-id")!);
    expect(plainRow).toMatchObject({
      client_request_id: "client-log-basic-1",
      key_id: keyId,
      endpoint: "/v1/chat/completions",
      model_asked: model,
      model_answered: model,
      backend_id: backends[0].id,
      status: 200,
      error_code: null,
      stream: false,
      prompt_tokens: 10,
      completion_tokens: 3,
      ttft_ms: null,
      finish_reason: "stop",
      attempts: 1,
      fallbacks: 0,
      bodies: null,
    });
    // The client's own x-request-id finds the same row.
    expect((await logs(`request_id=client-log-basic-1`)).data.map((row) => row.request_id)).toEqual([
      plainRow.request_id,
    ]);

    const streamRow = await loggedRow(streamed.headers.get("x-request-id")!);
    expect(streamRow).toMatchObject({
      model_asked: "alias-log-basic",
      stream: true,
      status: 200,
      finish_reason: "stop",
    });
    // Three deltas 20 ms apart: the first arrives before the end.
    expect(streamRow.ttft_ms).toBeGreaterThanOrEqual(0);
    expect(streamRow.ttft_ms!).toBeLessThan(streamRow.duration_ms);
    // The client's trace is continued: the same trace id, a span of the gateway's own, passed to the backend.
    expect(streamRow.trace_id).toBe("ab".repeat(16));
    const traceparent = streamed.headers.get("traceparent")!;
    expect(traceparent).toMatch(new RegExp(`^00-${"ab".repeat(16)}-[0-9a-f]{16}-01$`));
    expect(traceparent).not.toContain("cd".repeat(8));
    expect((await backends[0].stats()).lastTraceparent).toBe(traceparent);
    // And exported over OTLP, parented to the client's span.
    const spans = await eventually(async () => {
      const found = await (
        await fetch(`${env.FAKE_BACKEND_URL}/otlp/spans?trace_id=${"ab".repeat(16)}`)
      ).json<CollectedSpan[]>();
      return found.length > 0 ? found : undefined;
    });
    expect(spans).toEqual([
      expect.objectContaining({
        service: "moxie-gateway",
        spanId: traceparent.split("-")[2],
        parentSpanId: "cd".repeat(8),
        name: "POST /v1/chat/completions",
        attributes: expect.objectContaining({
          "moxie.request_id": streamRow.request_id,
          "http.response.status_code": 200,
        }),
      }),
    ]);
  });

  it("records fallbacks, retries, backend refusals and cut streams, and nothing for refused requests but a counter", async () => {
    const primary = await scenario("log-primary", 1, { status: "loading" });
    const backup = await scenario("log-backup", 2);
    await adminCall("PUT", `/models/${primary.model}`, {
      deployment: "deploy-log-primary",
      type: "chat",
      max_context_length: 4096,
      fallbacks: [backup.model],
    });
    // The least loaded backup backend is tried first and fails; the other answers.
    await backup.backends[0].control({ failNext: 1, failStatus: 502 });
    await backup.backends[1].control({ running: 6 });
    await pollBackends();
    const { id: keyId, key } = await createKey({ rpm: 3 });

    const fellBack = await chat(key, { model: primary.model });
    expect(fellBack.status).toBe(200);
    const fellBackRow = await loggedRow(fellBack.headers.get("x-request-id")!);
    // Both backup backends failed once (one answered on the retry); the primary had none to try.
    expect(fellBackRow).toMatchObject({
      status: 200,
      fallbacks: 1,
      model_asked: primary.model,
      model_answered: backup.model,
    });
    expect(fellBackRow.attempts).toBeGreaterThanOrEqual(2);

    await backup.backends[0].control({ refuseContext: true });
    await backup.backends[1].control({ refuseContext: true });
    const refused = await chat(key, { model: backup.model });
    expect(refused.status).toBe(400);
    expect((await loggedRow(refused.headers.get("x-request-id")!)).error_code).toBe("context_length_exceeded");

    await backup.backends[0].control({ refuseContext: false, failAfterDeltas: 1 });
    await backup.backends[1].control({ refuseContext: false, failAfterDeltas: 1 });
    const cut = await chat(key, { model: backup.model, stream: true });
    expect(await cut.text()).toContain("stream_interrupted");
    expect(await loggedRow(cut.headers.get("x-request-id")!)).toMatchObject({
      status: 502,
      error_code: "stream_interrupted",
    });

    // Refused before admission: unauthenticated, and over the key's rpm. No rows, only counts.
    const before = await metricsText();
    const unauthenticated = await chat("sk-not-a-key", { model: backup.model });
    expect(unauthenticated.status).toBe(401);
    const limited = await chat(key, { model: backup.model });
    expect(limited.status).toBe(429);
    await eventually(async () => {
      const after = await metricsText();
      const grew = (series: string) => sample(after, series) === sample(before, series) + 1;
      return grew('moxie_gateway_refused_requests_total{status_code="401",code="invalid_api_key"}') &&
        grew('moxie_gateway_refused_requests_total{status_code="429",code="rate_limit_exceeded"}')
        ? true
        : undefined;
    });
    const rows = (await logs(`key_id=${keyId}`)).data;
    expect(rows.map((row) => row.status)).toEqual([502, 400, 200]);
    expect(rows.some((row) => row.request_id === limited.headers.get("x-request-id"))).toBe(false);
  });

  it("filters by key, model, status class, backend and time, and pages by cursor without gaps or repeats", async () => {
    const { model, backends } = await scenario("log-filter", 1);
    const { id: keyId, key } = await createKey();
    const { key: otherKey } = await createKey();
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await chat(key, { model });
      await response.text();
      ids.push(response.headers.get("x-request-id")!);
    }
    await (await chat(otherKey, { model })).text();
    const bad = await chat(key, { model, max_tokens: 100_000 });
    expect(bad.status).toBe(400);
    await eventually(async () => ((await logs(`key_id=${keyId}`)).data.length === 5 ? true : undefined));

    const pages: string[] = [];
    let cursor = "";
    for (;;) {
      const page = await logs(`key_id=${keyId}&limit=2${cursor}`);
      pages.push(...page.data.map((row) => row.request_id));
      if (!page.next_cursor) break;
      cursor = `&cursor=${page.next_cursor}`;
    }
    expect(pages).toEqual([...ids].reverse());
    expect((await logs(`model=${model}&status=2xx`)).data).toHaveLength(6);
    expect((await logs(`model=${model}&status=4xx`)).data).toHaveLength(0);
    expect((await logs(`backend=${backends[0].id}&key_id=${keyId}`)).data).toHaveLength(5);
    expect((await logs(`key_id=${keyId}&since=2000-01-01&until=2000-01-02`)).data).toHaveLength(0);
    expect((await logs(`key_id=${keyId}&since=${new Date(Date.now() - 60_000).toISOString()}`)).data).toHaveLength(5);
    expect((await adminCall("GET", `/logs?status=6xx`)).status).toBe(422);
    expect((await adminCall("GET", `/logs/no-such-request`)).status).toBe(404);
    expect((await gateway(`/admin/logs`)).status).toBe(401);
  });

  it("keeps bodies only for keys that opt in", async () => {
    const { model } = await scenario("log-bodies", 1);
    const { key: quiet } = await createKey();
    const { id: loudId, key: loud } = await createKey({ log_bodies: true });
    expect((await (await adminCall("GET", `/keys/${loudId}`)).json<{ log_bodies: boolean }>()).log_bodies).toBe(true);
    const quietResponse = await chat(quiet, { model });
    await quietResponse.text();
    const loudResponse = await chat(loud, { model, stream: true });
    await loudResponse.text();
    expect((await loggedRow(quietResponse.headers.get("x-request-id")!)).bodies).toBeNull();
    const loudRow = await loggedRow(loudResponse.headers.get("x-request-id")!);
    expect(loudRow.bodies).toEqual({
      request_body: expect.stringContaining('"content":"Hello there"'),
      response_body: expect.stringContaining("data: [DONE]"),
    });
  });

  it("prunes the log to its row and age bounds, and bodies to theirs", async () => {
    const retention: LogRetention = { retentionMs: 60_000, maxRows: 3, bodyRetentionMs: 1_000, maxBodies: 2 };
    const entry = (index: number, ageMs: number): LoggedRequest => ({
      request_id: `prune-${index}`,
      client_request_id: null,
      created_at: new Date(Date.now() - ageMs).toISOString(),
      key_id: "key_prune",
      endpoint: "/v1/chat/completions",
      model_asked: "m",
      model_answered: "m",
      backend_id: "b",
      status: 200,
      error_code: null,
      stream: false,
      prompt_tokens: 1,
      completion_tokens: 1,
      cached_tokens: null,
      cost: 0,
      ttft_ms: null,
      duration_ms: 1,
      finish_reason: "stop",
      attempts: 1,
      fallbacks: 0,
      country: null,
      trace_id: null,
    });
    const bodies = { request_body: "{}", response_body: "{}" };
    // An old one (past both ages), then five fresh: at most 3 rows and 2 bodies stay, the newest.
    await env.DB.batch(logStatements(env.DB, entry(0, 120_000), bodies, retention));
    for (let index = 1; index <= 5; index++)
      await env.DB.batch(logStatements(env.DB, entry(index, 0), bodies, retention));
    const rows = await env.DB.prepare(
      "SELECT request_id FROM request_log WHERE key_id = 'key_prune' ORDER BY seq",
    ).all();
    expect(rows.results.map((row) => row.request_id)).toEqual(["prune-3", "prune-4", "prune-5"]);
    const kept = await env.DB.prepare(
      "SELECT l.request_id FROM request_log_bodies b JOIN request_log l ON l.seq = b.seq ORDER BY b.seq",
    ).all();
    expect(kept.results.map((row) => row.request_id)).toEqual(["prune-4", "prune-5"]);
  });
});

describe("gateway metrics and dashboard", () => {
  it("counts what the usage rows record, per model and backend, admin-only", async () => {
    const { model, backends } = await scenario("metrics-agree", 1, { deltas: 4 });
    const { id: keyId, key } = await createKey();
    for (const stream of [false, true, true]) await (await chat(key, { model, stream })).text();
    const usage = await eventually(async () => {
      const { data } = await (
        await adminCall("GET", `/usage?key_id=${keyId}`)
      ).json<{
        data: { requests: number; prompt_tokens: number; completion_tokens: number }[];
      }>();
      return data[0]?.requests === 3 ? data[0] : undefined;
    });
    const labels = `model="${model}",backend="${backends[0].id}"`;
    const text = await eventually(async () => {
      const exposition = await metricsText();
      return sample(exposition, `litellm_input_tokens_metric_total{${labels}}`) === usage.prompt_tokens
        ? exposition
        : undefined;
    });
    expect(
      sample(text, `litellm_proxy_total_requests_metric_total{requested_model="${model}",${labels},status_code="200"}`),
    ).toBe(3);
    expect(sample(text, `litellm_output_tokens_metric_total{${labels}}`)).toBe(usage.completion_tokens);
    expect(sample(text, `litellm_request_total_latency_metric_count{${labels}}`)).toBe(3);
    expect(sample(text, `litellm_llm_api_time_to_first_token_metric_count{${labels}}`)).toBe(2);
    expect(sample(text, `litellm_request_total_latency_metric_bucket{${labels},le="+Inf"}`)).toBe(3);
    expect(text).toContain("# TYPE litellm_proxy_total_requests_metric_total counter");
    expect(text).toContain("# TYPE litellm_request_total_latency_metric histogram");
    expect((await gateway("/admin/metrics")).status).toBe(401);

    const dashboard = await (
      await adminCall("GET", "/dashboard?window=1h&by=model")
    ).json<{
      buckets: { start: string; requests: number }[];
      groups: {
        group: string;
        requests: number;
        errors: number;
        ttft_p50_ms: number | null;
        output_tokens_per_second: number | null;
      }[];
    }>();
    const group = dashboard.groups.find((candidate) => candidate.group === model)!;
    expect(group).toMatchObject({ requests: 3, errors: 0 });
    expect(group.ttft_p50_ms).not.toBeNull();
    expect(dashboard.buckets.reduce((sum, bucket) => sum + bucket.requests, 0)).toBeGreaterThanOrEqual(3);
    // Each bucket starts on a whole minute.
    for (const bucket of dashboard.buckets) expect(Date.parse(bucket.start) % 60_000).toBe(0);
    const byBackend = await (
      await adminCall("GET", "/dashboard?window=24h&by=backend")
    ).json<{ groups: { group: string; requests: number }[] }>();
    expect(byBackend.groups.find((candidate) => candidate.group === backends[0].id)).toMatchObject({ requests: 3 });
  });
});
