import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/eventually.ts";
import type { BackendBehaviour } from "./support/fake-backend-contract.ts";
import { startLocalGateway, type LocalGateway } from "./support/local-gateway.ts";

/** The gateway under `wrangler dev`, attacked over real HTTP the way a hostile or unlucky client would. */
describe("gateway hardening under wrangler dev", () => {
  let gateway: LocalGateway;

  beforeAll(async () => {
    gateway = await startLocalGateway();
  });

  afterAll(async () => {
    await gateway?.dispose();
  });

  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // The fields these tests read: a created key, or a listing of usage rows or backends.
    return response.json() as Promise<{ id: string; key: string; data: { requests: number; inflight: number }[] }>;
  };
  const control = (behaviour: Partial<BackendBehaviour>) =>
    fetch(`${gateway.backendUrl}/__control`, { method: "POST", body: JSON.stringify(behaviour) });
  const chat = (key: string, body: Record<string, unknown>, signal?: AbortSignal) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mistral-small", messages: [{ role: "user", content: "Hello" }], ...body }),
      signal,
    });
  const usageRequests = async (keyId: string) =>
    (await admin("GET", `/usage?key_id=${keyId}`)).data.reduce((sum, row) => sum + row.requests, 0);
  const poolInflight = async () =>
    (await admin("GET", "/backends")).data.reduce((sum, backend) => sum + backend.inflight, 0);

  it("settles every abandoned stream: one usage row each, the key's slots and the pool's in-flight count back to 0", async () => {
    const streams = 20;
    await control({ deltas: 200, delayMs: 20 });
    const { id, key } = await admin("POST", "/keys", { name: "abandon", max_concurrent: streams });
    await Promise.all(
      Array.from({ length: streams }, async () => {
        const controller = new AbortController();
        const response = await chat(key, { stream: true }, controller.signal);
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        let text = "";
        while (text.split("\n\n").length <= 3) text += new TextDecoder().decode((await reader.read()).value);
        controller.abort();
      }),
    );
    const settled = async () => (await usageRequests(id)) === streams && (await poolInflight()) === 0;
    expect(await eventually(settled, 15_000, 100)).toBe(true);
    await control({ deltas: 2, delayMs: 1 });
    // Every concurrency slot came back: the same number of requests is admitted at once again.
    const again = await Promise.all(Array.from({ length: streams }, () => chat(key, {})));
    expect(again.map((response) => response.status)).toEqual(Array(streams).fill(200));
  });
});
