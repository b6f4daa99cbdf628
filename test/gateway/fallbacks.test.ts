import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { adminCall, chat, createKey, eventually, pollBackends, scenario } from "./gateway-client.ts";

const usageOf = async (keyId: string) =>
  (await (await adminCall("GET", `/usage?key_id=${keyId}`)).json<{ data: { model: string; requests: number }[] }>())
    .data;

/** Puts a chat model (deployment `deploy-<name>`, as scenario() registers) with fallbacks and a price. */
const putModel = (id: string, name: string, extra: Record<string, unknown> = {}) =>
  adminCall("PUT", `/models/${id}`, { deployment: `deploy-${name}`, type: "chat", max_context_length: 4096, ...extra });

describe("model fallbacks", () => {
  it("answers from the fallback when every backend of the model is down, names it in a header, and records usage at its price", async () => {
    const primary = await scenario("fb-primary", 2);
    const backup = await scenario("fb-backup", 1);
    expect(
      (
        await putModel(backup.model, "fb-backup", {
          aliases: ["alias-fb-backup"],
          price_per_million_tokens: { input: 1000, output: 1000 },
        })
      ).status,
    ).toBe(200);
    expect((await putModel(primary.model, "fb-primary", { fallbacks: [`alias-fb-backup`] })).status).toBe(200);
    // One backend loading, the other refusing every request with 503: nothing of the primary can answer.
    await primary.backends[0].control({ status: "loading" });
    await primary.backends[1].control({ failNext: 1000 });
    await pollBackends();
    const { id, key } = await createKey({ models: [primary.model] });

    const response = await chat(key, { model: primary.model });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-moxie-model")).toBe(backup.model);
    expect(await response.json()).toMatchObject({
      model: backup.model,
      choices: [{ message: { content: "word0 word1 word2 " } }],
    });
    expect((await backup.backends[0].stats()).lastBody).toMatchObject({ model: "deploy-fb-backup" });

    const streamed = await chat(key, { model: primary.model, stream: true });
    expect(streamed.headers.get("x-moxie-model")).toBe(backup.model);
    const text = await streamed.text();
    expect(text).toContain(`"model":"${backup.model}"`);
    expect(text).toContain("[DONE]");

    // Both requests are charged to the model that answered, at its price: (10 + 3) tokens × 1000 per million each.
    const usage = await eventually(async () => {
      const rows = await usageOf(id);
      return rows[0]?.requests === 2 ? rows : undefined;
    });
    expect(usage).toEqual([expect.objectContaining({ model: backup.model, requests: 2 })]);
    const spend = await (await adminCall("GET", `/keys/${id}/spend`)).json<{ current: { spend: number } }>();
    expect(spend.current.spend).toBeCloseTo(2 * 0.013, 9);
  });

  it("answers 503 when the fallbacks cannot answer either, counted against the model asked for", async () => {
    const primary = await scenario("fb-all-down", 1, { status: "loading" });
    const backup = await scenario("fb-all-down-backup", 1, { status: "loading" });
    await putModel(primary.model, "fb-all-down", { fallbacks: [backup.model] });
    await pollBackends();
    const { id, key } = await createKey();
    const response = await chat(key, { model: primary.model });
    expect(response.status).toBe(503);
    expect(response.headers.get("x-moxie-model")).toBeNull();
    const usage = await eventually(async () => {
      const rows = await usageOf(id);
      return rows.length > 0 ? rows : undefined;
    });
    expect(usage).toEqual([expect.objectContaining({ model: primary.model, requests: 1 })]);
  });

  it("names the model asked for when its own backends answer", async () => {
    const primary = await scenario("fb-healthy", 1);
    const backup = await scenario("fb-healthy-backup", 1);
    await putModel(primary.model, "fb-healthy", { aliases: ["alias-fb-healthy"], fallbacks: [backup.model] });
    const { key } = await createKey();
    const response = await chat(key, { model: "alias-fb-healthy" });
    expect(response.headers.get("x-moxie-model")).toBe("alias-fb-healthy");
    expect((await backup.backends[0].stats()).requests).toBe(0);
  });

  it("falls back on a prompt too long for the model's context only when the model asks for it", async () => {
    const short = await scenario("fb-short", 1, { refuseContext: true });
    const long = await scenario("fb-long", 1);
    const { key } = await createKey();
    await putModel(short.model, "fb-short", { fallbacks: [long.model] });
    const refused = await chat(key, { model: short.model });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: "context_length_exceeded" });

    await putModel(short.model, "fb-short", { fallbacks: [long.model], fallback_on_context_overflow: true });
    const answered = await chat(key, { model: short.model });
    expect(answered.status).toBe(200);
    expect(answered.headers.get("x-moxie-model")).toBe(long.model);
  });

  it("tries an external OpenAI-compatible upstream with its own secret (a local stand-in)", async () => {
    const primary = await scenario("fb-external-primary", 1, { status: "loading" });
    // The stand-in: no /health (like La Plateforme or vLLM), usage only in the usage-only chunk, its own API key.
    const upstream = `${env.FAKE_BACKEND_URL}/b/external-upstream`;
    await fetch(`${upstream}/__control`, {
      method: "POST",
      body: JSON.stringify({
        models: ["mistral-large-latest"],
        secret: env.EXTERNAL_BACKEND_KEY,
        healthRoute: false,
        streamUsage: "chunk",
      }),
    });
    expect(
      (
        await adminCall("POST", "/backends", {
          id: "external-upstream",
          url: upstream,
          secret_name: "EXTERNAL_BACKEND_KEY",
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await adminCall("PUT", "/models/mistral-large-external", {
          deployment: "mistral-large-latest",
          type: "chat",
          max_context_length: 131072,
        })
      ).status,
    ).toBe(200);
    await putModel(primary.model, "fb-external-primary", { fallbacks: ["mistral-large-external"] });
    await pollBackends();
    const { key } = await createKey();

    const streamed = await chat(key, { model: primary.model, stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("x-moxie-model")).toBe("mistral-large-external");
    const events = (await streamed.text()).split("\n\n").filter(Boolean);
    // Mistral's ending for a client that did not ask for OpenAI's usage chunk: usage on the finish chunk.
    expect(events.at(-2)).toContain('"usage"');
    expect(events.at(-1)).toBe("data: [DONE]");
    const seen = await (await fetch(`${upstream}/__state`)).json();
    expect(seen).toMatchObject({ requests: 1, lastBody: { model: "mistral-large-latest" } });
  });

  it("refuses, when a model is saved, fallbacks that loop, name unknown models or another model type", async () => {
    await scenario("fb-loop", 1);
    await putModel("loop-a", "fb-loop");
    await putModel("loop-b", "fb-loop", { fallbacks: ["loop-a"] });
    await putModel("loop-c", "fb-loop", { fallbacks: ["loop-b"] });
    const loop = await putModel("loop-a", "fb-loop", { fallbacks: ["loop-c"] });
    expect(loop.status).toBe(400);
    expect(await loop.json()).toMatchObject({
      code: "invalid_fallbacks",
      message: "Fallbacks loop: loop-a → loop-c → loop-b → loop-a",
    });
    expect(await (await putModel("loop-self", "fb-loop", { fallbacks: ["loop-self"] })).json()).toMatchObject({
      code: "invalid_fallbacks",
    });
    expect(await (await putModel("loop-d", "fb-loop", { fallbacks: ["no-such-model"] })).json()).toMatchObject({
      message: "Model 'loop-d' falls back to 'no-such-model', which is not in the catalog",
    });
    expect((await putModel("loop-e", "fb-loop", { fallbacks: ["embed-fb-loop"] })).status).toBe(400);
    // The refused save changed nothing: loop-a still has no fallbacks.
    const { data } = await (
      await adminCall("GET", "/models")
    ).json<{
      data: { id: string; fallbacks: string[] }[];
    }>();
    expect(data.find((model) => model.id === "loop-a")?.fallbacks).toEqual([]);
  });
});
