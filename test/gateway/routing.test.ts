import { describe, expect, it } from "vitest";
import {
  adminCall,
  backendStatus,
  chat,
  createKey,
  pollBackends,
  scenario,
  type FakeBackend,
} from "./gateway-client.ts";

/**
 * A key of a fixed cache scope: prefix affinity hashes the scope with each prompt, so the spread of
 * these tests' requests over the backends is the same on every run (a key's own id is random).
 */
const routingKey = () => createKey({ cache_scope: "routing-tests" });

const requestsPerBackend = async (backends: FakeBackend[]) =>
  Promise.all(backends.map(async (backend) => (await backend.stats()).requests));

/** Sequential requests, each with its own prompt_cache_key so affinity spreads them. */
async function spread(key: string, model: string, count: number, tag: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let index = 0; index < count; index++)
    statuses.push((await chat(key, { model, prompt_cache_key: `${tag}-${index}` })).status);
  return statuses;
}

describe("backend pool routing", () => {
  it("sends requests to the least loaded backend, by the load /health reports", async () => {
    const { model, backends } = await scenario("load", 2);
    const { key } = await routingKey();
    await backends[0].control({ running: 12, waiting: 8 });
    await pollBackends();
    expect(await backendStatus(backends[0].id)).toMatchObject({ ready: true, queued: 20 });
    expect(await spread(key, model, 8, "load")).toEqual(Array(8).fill(200));
    expect(await requestsPerBackend(backends)).toEqual([0, 8]);
  });

  it("keeps a conversation's prefix on one backend unless it is much busier", async () => {
    const { model, backends } = await scenario("affinity", 3);
    const { key } = await routingKey();
    const conversation = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Name a prime." },
    ];
    for (let turn = 0; turn < 6; turn++) {
      const messages = [
        ...conversation,
        ...Array.from({ length: turn }, (_, index) => ({ role: "user", content: `turn ${index}` })),
      ];
      expect((await chat(key, { model, messages })).status).toBe(200);
    }
    const counts = await requestsPerBackend(backends);
    expect(counts.filter((count) => count === 6)).toHaveLength(1);
    const warm = counts.indexOf(6);

    // Different prefixes spread over the pool.
    await spread(key, model, 12, "spread");
    expect((await requestsPerBackend(backends)).filter((count) => count > 0).length).toBeGreaterThan(1);

    // The warm backend gets busy: affinity yields to load.
    const warmRequests = (await backends[warm].stats()).requests;
    await backends[warm].control({ running: 30 });
    await pollBackends();
    expect((await chat(key, { model, messages: conversation })).status).toBe(200);
    expect((await backends[warm].stats()).requests).toBe(warmRequests);
  });

  it("skips backends that are loading, unreachable or draining", async () => {
    const { model, backends } = await scenario("unhealthy", 3);
    const { key } = await routingKey();
    await backends[0].control({ status: "loading" });
    await adminCall("POST", "/backends", {
      id: "unhealthy-dead",
      url: "http://127.0.0.1:9/b/dead",
      models: [`deploy-unhealthy`],
    });
    await adminCall("POST", `/backends/${backends[2].id}/drain`, {});
    await pollBackends();
    expect(await backendStatus("unhealthy-dead")).toMatchObject({ ready: false, error: expect.any(String) });
    expect(await backendStatus(backends[2].id)).toMatchObject({ draining: true });
    expect(await spread(key, model, 6, "unhealthy")).toEqual(Array(6).fill(200));
    expect(await requestsPerBackend(backends)).toEqual([0, 6, 0]);
  });

  it("retries the next backend on 502 before the first byte, and opens the circuit after repeated failures", async () => {
    const { model, backends } = await scenario("breaker", 2);
    const { key } = await routingKey();
    await backends[0].control({ failNext: 1000, failStatus: 502 });
    expect(await spread(key, model, 16, "breaker")).toEqual(Array(16).fill(200));
    // Three consecutive failures open backend 0's circuit; after that it gets only a half-open trial
    // per cooldown (1 s in tests: one on a slow machine), which fails and opens it again.
    const [failed, served] = await requestsPerBackend(backends);
    expect(served).toBe(16);
    expect(failed).toBeGreaterThanOrEqual(3);
    expect(failed).toBeLessThanOrEqual(4);
    expect(await backendStatus(backends[0].id)).toMatchObject({ circuit: "open" });

    // After the cooldown (1 s in tests) one trial goes through; its success closes the circuit.
    await backends[0].control({ failNext: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await backendStatus(backends[0].id)).toMatchObject({ circuit: "half-open" });
    await spread(key, model, 8, "recovered");
    expect(await backendStatus(backends[0].id)).toMatchObject({ circuit: "closed" });
    expect((await backends[0].stats()).completed).toBeGreaterThan(0);
  });

  it("moves a request off a busy backend (503) without holding it against its circuit", async () => {
    const { model, backends } = await scenario("busy", 2);
    const { key } = await routingKey();
    await backends[0].control({ failNext: 1000, failStatus: 503 });
    expect(await spread(key, model, 12, "busy")).toEqual(Array(12).fill(200));
    expect((await backends[0].stats()).requests).toBeGreaterThan(3);
    expect(await backendStatus(backends[0].id)).toMatchObject({ circuit: "closed", inflight: 0 });

    // Every backend busy: the client gets 503 with the backends' Retry-After, and no circuit opens.
    await backends[1].control({ failNext: 1000, failStatus: 503 });
    const refused = await chat(key, { model });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    for (const backend of backends)
      expect(await backendStatus(backend.id)).toMatchObject({ circuit: "closed", inflight: 0 });
  });

  it("passes on a 500 the request caused, without retrying it or opening the circuit", async () => {
    const { model, backends } = await scenario("poison", 2);
    const { key } = await routingKey();
    for (const backend of backends) await backend.control({ failNext: 5, failStatus: 500 });
    for (let attempt = 0; attempt < 5; attempt++)
      expect((await chat(key, { model, prompt_cache_key: "poison" })).status).toBe(500);
    expect((await requestsPerBackend(backends)).reduce((sum, count) => sum + count, 0)).toBe(5);
    for (const backend of backends) expect(await backendStatus(backend.id)).toMatchObject({ circuit: "closed" });
    expect((await chat(key, { model, prompt_cache_key: "unrelated" })).status).toBe(200);
  });

  it("takes liveness and models from /v1/models when a backend has no /health (vLLM-style)", async () => {
    const { model, backends } = await scenario("no-health", 1, { healthRoute: false });
    await pollBackends();
    expect(await backendStatus(backends[0].id)).toMatchObject({
      ready: true,
      models: ["deploy-no-health"],
      queued: null,
    });
    const { key } = await routingKey();
    expect((await chat(key, { model })).status).toBe(200);
  });

  it("answers 503 with Retry-After when no healthy backend serves the model", async () => {
    const { model, backends } = await scenario("none", 1);
    const { key } = await routingKey();
    await backends[0].control({ status: "loading" });
    await pollBackends();
    const response = await chat(key, { model });
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await response.json()).toMatchObject({ object: "error", type: "service_unavailable" });

    // Backends that fail: the client is not told which, nor how.
    await backends[0].control({ status: "ready", failNext: 10, failStatus: 502 });
    await adminCall("POST", "/backends", {
      id: "none-dead",
      url: "http://127.0.0.1:9/b/dead",
      models: ["deploy-none"],
    });
    await pollBackends();
    const failed = await chat(key, { model });
    expect(failed.status).toBe(503);
    const { message } = await failed.json<{ message: string }>();
    expect(message).not.toMatch(/none-0|none-dead|127\.0\.0\.1|502|refused|connect/i);
  });
});
