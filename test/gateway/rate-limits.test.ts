import { describe, expect, it } from "vitest";
import type { ErrorBody } from "../../protocol/index.ts";
import {
  adminCall,
  backendStatus,
  chat,
  createKey,
  eventually,
  restartKeyLimiter,
  scenario,
} from "./gateway-client.ts";

/** "Hello there" is estimated at its 11 UTF-8 bytes + 16 = 27 prompt tokens; the fake backend reports 10 + 3. */
const PROMPT_ESTIMATE = 27;
const ACTUAL_TOKENS = 13;

describe("per-key limits in one Durable Object", () => {
  it("admits exactly L of N concurrent requests and refuses the rest with 429, Retry-After and Mistral's headers", async () => {
    const { model, backends } = await scenario("rpm-exact", 2);
    // Above the gateway's default concurrency cap, so only rpm refuses.
    const { key } = await createKey({ rpm: 10, max_concurrent: 40 });
    const responses = await Promise.all(Array.from({ length: 40 }, () => chat(key, { model, max_tokens: 5 })));
    const admitted = responses.filter((response) => response.status === 200);
    const refused = responses.filter((response) => response.status === 429);
    expect(admitted).toHaveLength(10);
    expect(refused).toHaveLength(30);

    const refusal = refused[0];
    expect(refusal.headers.get("x-ratelimit-limit-req-minute")).toBe("10");
    expect(refusal.headers.get("x-ratelimit-remaining-req-minute")).toBe("0");
    const retryAfter = Number(refusal.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The window slides by whole seconds, so an admission counts for up to 61 s.
    expect(retryAfter).toBeLessThanOrEqual(61);
    expect(await refusal.json<ErrorBody>()).toMatchObject({
      object: "error",
      type: "rate_limited",
      code: "rate_limit_exceeded",
    });

    const remaining = admitted
      .map((response) => Number(response.headers.get("x-ratelimit-remaining-req-minute")))
      .sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // The pool picks a backend while the limiter decides: refused requests reach no backend and give their pick back.
    const requests = await Promise.all(backends.map(async (backend) => (await backend.stats()).requests));
    expect(requests[0] + requests[1]).toBe(10);
    await eventually(async () =>
      (await Promise.all(backends.map((backend) => backendStatus(backend.id)))).every(
        (status) => status.inflight === 0,
      ),
    );
  });

  it("caps concurrent requests exactly while streams are open", async () => {
    const { model } = await scenario("concurrency", 1, { deltas: 4, delayMs: 150 });
    const { key } = await createKey({ max_concurrent: 3 });
    const responses = await Promise.all(Array.from({ length: 8 }, () => chat(key, { model, stream: true })));
    const admitted = responses.filter((response) => response.status === 200);
    expect(admitted).toHaveLength(3);
    const refused = responses.find((response) => response.status === 429)!;
    expect(refused.headers.get("retry-after")).toBe("1");
    await Promise.all(responses.map((response) => response.text()));
    // Settlement (in waitUntil) frees the slots.
    await eventually(async () => (await chat(key, { model })).status === 200);
  });

  it("reserves prompt estimate + max_tokens, then settles streams to the backend's usage", async () => {
    const { model } = await scenario("tpm-settle", 1);
    const { key } = await createKey({ tpm: 1000 });
    const first = await chat(key, { model, stream: true, max_tokens: 500 });
    expect(first.headers.get("x-ratelimit-limit-tokens-minute")).toBe("1000");
    expect(first.headers.get("x-ratelimit-tokens-query-cost")).toBe(String(PROMPT_ESTIMATE + 500));
    expect(first.headers.get("x-ratelimit-remaining-tokens-minute")).toBe(String(1000 - PROMPT_ESTIMATE - 500));
    expect(await first.text()).toContain("[DONE]");

    // Once the stream's settlement lands, the minute holds its 13 actual tokens instead of 507.
    const second = await eventually(async () => {
      const response = await chat(key, { model, max_tokens: 100 });
      const remaining = Number(response.headers.get("x-ratelimit-remaining-tokens-minute"));
      return remaining === 1000 - ACTUAL_TOKENS - (PROMPT_ESTIMATE + 100)
        ? response
        : (await response.text(), undefined);
    });
    expect(second.status).toBe(200);
    expect(second.headers.get("x-ratelimit-tokens-query-cost")).toBe(String(ACTUAL_TOKENS));

    const tooMany = await chat(key, { model, max_tokens: 970 });
    expect(tooMany.status).toBe(429);
    expect(Number(tooMany.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("answers 400, not 429 forever, to a request larger than the key's whole tpm", async () => {
    const { model, backends } = await scenario("tpm-never", 1);
    const { key } = await createKey({ tpm: 1000 });
    const never = await chat(key, { model, max_tokens: 990 });
    expect(never.status).toBe(400);
    expect(never.headers.get("retry-after")).toBeNull();
    expect(await never.json()).toMatchObject({
      type: "invalid_request_error",
      code: "exceeds_key_limit",
      param: "max_tokens",
      message: expect.stringMatching(/up to 1017 tokens.*1000 tokens per minute: lower max_tokens or n/),
    });
    expect((await backends[0].stats()).requests).toBe(0);
    // The same key still serves what fits.
    expect((await chat(key, { model, max_tokens: 900 })).status).toBe(200);
  });

  it("counts tools, tool calls, tool results and the response schema in the reservation", async () => {
    const { model } = await scenario("tools-count", 1);
    const { key } = await createKey({ tpm: 100_000 });
    const tool = (index: number) => ({
      type: "function",
      function: {
        name: `lookup_${index}`,
        description: "Looks a record up by its id. ".repeat(10),
        parameters: { type: "object", properties: { id: { type: "string", description: "The record's id" } } },
      },
    });
    const tools = Array.from({ length: 60 }, (_, index) => tool(index));
    const call = { id: "call00001", type: "function", function: { name: "lookup_1", arguments: '{"id": "42"}' } };
    const schema = { name: "answer", schema: { type: "object", properties: { text: { type: "string" } } } };
    const messages = [
      { role: "user", content: "Hello there" },
      { role: "assistant", content: null, tool_calls: [call] },
      { role: "tool", tool_call_id: "call00001", name: "lookup_1", content: "found" },
    ];
    // Streamed, so the headers show the reservation rather than the usage.
    const response = await chat(key, {
      model,
      stream: true,
      max_tokens: 10,
      messages,
      tools,
      response_format: { type: "json_schema", json_schema: schema },
    });
    expect(response.status).toBe(200);
    const bytes = (text: string) => new TextEncoder().encode(text).byteLength;
    const expected =
      bytes("Hello there") +
      16 +
      bytes(call.id + call.function.name + call.function.arguments) +
      16 +
      bytes("call00001lookup_1found") +
      16 +
      tools.reduce((sum, entry) => sum + bytes(JSON.stringify(entry.function)) + 16, 0) +
      bytes(JSON.stringify(schema)) +
      16 +
      10;
    expect(expected).toBeGreaterThan(20_000);
    expect(response.headers.get("x-ratelimit-tokens-query-cost")).toBe(String(expected));
    expect(Number(response.headers.get("x-ratelimit-remaining-tokens-minute"))).toBe(100_000 - expected);
    await response.text();
  });

  it("holds a key without its own max_concurrent to the gateway's DEFAULT_KEY_CONCURRENCY, and its own setting overrides it", async () => {
    const { model } = await scenario("default-concurrency", 1, { deltas: 4, delayMs: 150 });
    const streams = async (key: string, count: number) => {
      const responses = await Promise.all(Array.from({ length: count }, () => chat(key, { model, stream: true })));
      const statuses = responses.map((response) => response.status);
      await Promise.all(responses.map((response) => response.text()));
      return statuses;
    };
    // wrangler.toml sets DEFAULT_KEY_CONCURRENCY = "8".
    const { key } = await createKey();
    const capped = await streams(key, 12);
    expect(capped.filter((status) => status === 200)).toHaveLength(8);
    expect(capped.filter((status) => status === 429)).toHaveLength(4);
    const { key: wider } = await createKey({ max_concurrent: 12 });
    expect(await streams(wider, 12)).toEqual(Array(12).fill(200));
  });

  it("reserves an upper bound on the prompt: text that tokenizes densely cannot pass the limit", async () => {
    const { model } = await scenario("cjk", 1);
    const { key } = await createKey({ tpm: 2000 });
    // 400 rare CJK characters: 1,200 UTF-8 bytes, and about as many tokens (one byte-fallback token per byte).
    const content = "龘靐齉".repeat(134).slice(0, 400);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => chat(key, { model, max_tokens: 10, messages: [{ role: "user", content }] })),
    );
    const admitted = responses.filter((response) => response.status === 200);
    expect(admitted).toHaveLength(1);
    expect(Number(admitted[0].headers.get("x-ratelimit-remaining-tokens-minute"))).toBe(2000 - (1200 + 16 + 10));
    await Promise.all(responses.map((response) => response.text()));
  });

  it("caps an unset max_tokens to what tpm or the month leaves, and refuses n × max_tokens that cannot fit", async () => {
    const { model, backends } = await scenario("n-fit", 1);
    for (const limits of [{ tpm: 100 }, { monthly_token_budget: 100 }]) {
      const { key } = await createKey(limits);
      const capped = await chat(key, { model, n: 4 });
      expect(capped.status).toBe(200);
      // Each of the 4 choices may generate what is left after the prompt's bound: (100 - 27) / 4.
      expect((await backends[0].stats()).lastBody).toMatchObject({ n: 4, max_tokens: 18 });
      expect(capped.headers.get("x-ratelimit-tokens-query-cost")).toBe("13");

      // More than the whole limit: retrying can never help, so 400 rather than 429.
      const { key: fresh } = await createKey(limits);
      const refused = await chat(fresh, { model, n: 4, max_tokens: 100 });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({
        code: "exceeds_key_limit",
        message: expect.stringContaining("tpm" in limits ? "tokens per minute" : "monthly token budget"),
      });
    }
  });

  it("keeps the window across a restart of the limiter object", async () => {
    const { model } = await scenario("restart", 1);
    const { id, key } = await createKey({ rpm: 2 });
    expect((await chat(key, { model })).status).toBe(200);
    expect((await chat(key, { model })).status).toBe(200);
    // Let both settlements (waitUntil) land before the object is evicted.
    await eventually(async () => {
      const { data } = await (
        await adminCall("GET", `/usage?key_id=${id}`)
      ).json<{
        data: { requests: number }[];
      }>();
      return data[0]?.requests === 2;
    });
    await restartKeyLimiter(id);
    expect((await chat(key, { model })).status).toBe(429);
  });

  it("stops a key at its monthly token budget", async () => {
    const { model } = await scenario("budget", 1);
    const { key } = await createKey({ monthly_token_budget: 60 });
    expect((await chat(key, { model })).status).toBe(200);
    const second = await eventually(async () => {
      const response = await chat(key, { model });
      return response.status === 200 ? response : undefined;
    });
    expect(second.headers.get("x-ratelimit-limit-tokens-month")).toBe("60");
    const refused = await eventually(async () => {
      const response = await chat(key, { model });
      return response.status === 429 ? response : undefined;
    });
    expect(await refused.json()).toMatchObject({ code: "budget_exceeded" });
  });
});
