import { afterEach, describe, expect, it, vi } from "vitest";
import { ChatCompletionRequest, TENANT_HEADER } from "../../protocol/index.ts";
import { chatCompletions } from "../../gateway/api/chat-completions.ts";
import type { ApiKeyRecord } from "../../gateway/auth/key-record.ts";
import { sha256Hex } from "../../gateway/digest.ts";
import { adminCall, chat, createKey, gateway, scenario } from "./gateway-client.ts";

const lastSalt = async (backend: { stats(): Promise<{ lastBody: Record<string, unknown> | null }> }) =>
  (await backend.stats()).lastBody?.cache_salt;

describe("tenants and the backends' prefix cache", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("salts every chat request with the key's cache scope; a client's own salt only partitions it further", async () => {
    const { model, backends } = await scenario("salt", 1);
    const { id, key } = await createKey();
    expect((await chat(key, { model })).status).toBe(200);
    expect(await lastSalt(backends[0])).toBe(id);

    // A client's salt cannot leave its scope, not even one naming another key's scope.
    expect((await chat(key, { model, cache_salt: "key_someone_else" })).status).toBe(200);
    expect(await lastSalt(backends[0])).toBe(`${id}:key_someone_else`);

    // Too long together: the client's part is hashed, the scope kept.
    const long = "s".repeat(256);
    expect((await chat(key, { model, cache_salt: long })).status).toBe(200);
    expect(await lastSalt(backends[0])).toBe(`${id}:${await sha256Hex(long)}`);
  });

  it("lets the operator give keys one cache scope, without ':' so no salt can spell another", async () => {
    const { model, backends } = await scenario("scope", 1);
    const first = await createKey({ cache_scope: "team-a" });
    const second = await createKey();
    expect((await adminCall("PATCH", `/keys/${second.id}`, { cache_scope: "team-a" })).status).toBe(200);
    for (const { key } of [first, second]) {
      expect((await chat(key, { model })).status).toBe(200);
      expect(await lastSalt(backends[0])).toBe("team-a");
    }
    expect(await (await adminCall("GET", `/keys/${first.id}`)).json()).toMatchObject({ cache_scope: "team-a" });
    expect((await adminCall("PATCH", `/keys/${second.id}`, { cache_scope: null })).status).toBe(200);
    expect((await chat(second.key, { model })).status).toBe(200);
    expect(await lastSalt(backends[0])).toBe(second.id);

    const colon = await adminCall("POST", "/keys", { name: "bad", cache_scope: "team-a:x" });
    expect(colon.status).toBe(422);
    expect(await colon.json()).toMatchObject({ detail: [{ loc: ["body", "cache_scope"] }] });
  });

  it("names the key's id as the tenant in a header on every upstream request", async () => {
    const { model, embedModel, backends } = await scenario("tenant", 1);
    const { id, key } = await createKey();
    const tenants: (string | undefined)[] = [];
    const fetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
      if (String(input).includes(`/b/${backends[0].id}/v1/`))
        tenants.push((init?.headers as Record<string, string>)[TENANT_HEADER]);
      return fetch(input, init);
    });
    expect((await chat(key, { model })).status).toBe(200);
    const embedded = await gateway("/v1/embeddings", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: embedModel, input: "Hello" }),
    });
    expect(embedded.status).toBe(200);
    expect(tenants).toEqual([id, id]);
  });

  it("keeps prefix affinity per cache scope: one prompt_cache_key of two tenants is two affinities", async () => {
    const request = ChatCompletionRequest.parse({
      model: "m",
      messages: [{ role: "user", content: "Hi" }],
      prompt_cache_key: "shared",
    });
    const key = (id: string, cache_scope: string | null) => ({ id, cache_scope }) as ApiKeyRecord;
    const [a, b, teamA, teamB] = await Promise.all([
      chatCompletions.affinityKey(request, key("key_a", null)),
      chatCompletions.affinityKey(request, key("key_b", null)),
      chatCompletions.affinityKey(request, key("key_c", "team")),
      chatCompletions.affinityKey(request, key("key_d", "team")),
    ]);
    expect(a).not.toBe(b);
    expect(teamA).toBe(teamB);
  });
});
