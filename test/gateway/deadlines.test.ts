import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import app from "../../gateway/index.ts";
import { backendStatus, chat, createKey, eventually, scenario } from "./gateway-client.ts";

async function usageStatuses(keyId: string): Promise<number[]> {
  const { results } = await env.DB.prepare("SELECT status FROM usage WHERE key_id = ? ORDER BY created_at")
    .bind(keyId)
    .all<{ status: number }>();
  return results.map((row) => row.status);
}

// The tests' gateway gives a backend 2 s (UPSTREAM_IDLE_SECONDS and UPSTREAM_TIMEOUT_SECONDS in vitest.config.ts).
describe("upstream deadlines", () => {
  it("a backend that accepts and never answers is given up on at the deadline, and the key's slot comes back", async () => {
    const { model, backends } = await scenario("hang", 1, { hang: true });
    const { id, key } = await createKey({ max_concurrent: 1 });
    const started = Date.now();
    const response = await chat(key, { model });
    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(10_000);
    await eventually(async () => (await backends[0].stats()).aborted === 1);
    expect(await backendStatus(backends[0].id)).toMatchObject({ inflight: 0 });
    // The slot was settled: the next request is not refused with 429.
    await backends[0].control({ hang: false });
    await eventually(async () => (await chat(key, { model })).status === 200);
    expect(await usageStatuses(id)).toContain(503);
  });

  it("a stream whose backend goes quiet ends with an SSE error event, and the backend request is aborted", async () => {
    const { model, backends } = await scenario("stall", 1, { deltas: 5, stallAfterDeltas: 2 });
    const { id, key } = await createKey();
    const response = await chat(key, { model, stream: true });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('"content":"word1 "');
    expect(text).toMatch(/event: error\ndata: .*sent nothing for 2 s/);
    await eventually(async () => (await backends[0].stats()).aborted === 1);
    expect((await backends[0].stats()).completed).toBe(0);
    expect(await eventually(() => usageStatuses(id).then((statuses) => statuses.length > 0 && statuses))).toEqual([
      502,
    ]);
  });

  it("a stream whose backend sends keep-alive comments longer than the idle deadline is not cut off, and the comments reach the client", async () => {
    const { model } = await scenario("patient", 1, { deltas: 3, keepaliveBeforeMs: 3_000 });
    const { key } = await createKey();
    const response = await chat(key, { model, stream: true });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain(": keep-alive\n\n");
    expect(text).not.toContain("event: error");
    expect(text).toContain('"content":"word2 "');
    expect(text).toContain("data: [DONE]");
  });

  it("a non-streamed request whose client leaves is stopped at the backend, not retried, and frees the key's slot", async () => {
    const { model, backends } = await scenario("leaver", 2, { deltas: 100, delayMs: 20 });
    const { id, key } = await createKey({ max_concurrent: 1 });
    const controller = new AbortController();
    const leaving = exports.default
      .fetch("http://gateway/v1/chat/completions", {
        method: "POST",
        signal: controller.signal,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "Hello" }] }),
      })
      .catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    expect(await leaving).toBeInstanceOf(Error);
    const stats = async () => Promise.all(backends.map((backend) => backend.stats()));
    await eventually(async () => (await stats()).some((backend) => backend.aborted === 1));
    expect((await stats()).map((backend) => backend.requests).reduce((sum, count) => sum + count)).toBe(1);
    expect((await stats()).every((backend) => backend.completed === 0)).toBe(true);
    for (const backend of backends) await backend.control({ deltas: 2 });
    await eventually(async () => (await chat(key, { model })).status === 200);
    expect(
      await eventually(async () => ((await usageStatuses(id)).length === 2 ? usageStatuses(id) : undefined)),
    ).toEqual([499, 200]);
  });

  it("a client that leaves before the gateway reaches the backend stops the request there too, streamed or not", async () => {
    // Called in-process, so the client can leave at a moment of its choosing: before the handler's first await ends.
    const { model, backends } = await scenario("early-leaver", 1, { deltas: 20, delayMs: 20 });
    const { id, key } = await createKey();
    for (const stream of [false, true]) {
      const controller = new AbortController();
      const ctx = createExecutionContext();
      const request = new Request("http://gateway/v1/chat/completions", {
        method: "POST",
        signal: controller.signal,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "Hello" }] }),
      });
      const answered = app.fetch(request, env, ctx);
      controller.abort();
      await (await answered).body?.cancel();
      await waitOnExecutionContext(ctx);
    }
    expect((await backends[0].stats()).completed).toBe(0);
    expect(await eventually(() => usageStatuses(id).then((statuses) => statuses.length === 2 && statuses))).toEqual([
      499, 499,
    ]);
  });
});
