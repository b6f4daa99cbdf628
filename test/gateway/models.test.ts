import { describe, expect, it } from "vitest";
import { ModelCard } from "../../protocol/index.ts";
import { adminCall, createKey, gateway, pollBackends, scenario } from "./gateway-client.ts";

const get = (path: string, key: string) => gateway(path, { headers: { authorization: `Bearer ${key}` } });

describe("GET /v1/models/{model_id}", () => {
  it("answers a model's card by id, and by alias with the card of the model it names", async () => {
    const { model } = await scenario("retrieve", 1);
    const { key } = await createKey();
    const byId = await get(`/v1/models/${model}`, key);
    expect(byId.status).toBe(200);
    const card = ModelCard.parse(await byId.json());
    expect(card).toMatchObject({
      id: model,
      aliases: ["alias-retrieve"],
      max_context_length: 4096,
      capabilities: { completion_chat: true },
    });
    const byAlias = await get("/v1/models/alias-retrieve", key);
    expect(await byAlias.json()).toEqual(card);
  });

  it("answers 404 in the error shape for an unknown model, and 401 without a key", async () => {
    const { key } = await createKey();
    const missing = await get("/v1/models/no-such-model", key);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ object: "error", code: "model_not_found" });
    expect((await gateway("/v1/models/open-mixtral-8x7b")).status).toBe(401);
  });
});

describe("GET /admin/models", () => {
  type CatalogEntry = { id: string; aliases: string[]; source: string; served: boolean };
  const catalog = async () =>
    new Map(
      (await (await adminCall("GET", "/models")).json<{ data: CatalogEntry[] }>()).data.map((model) => [
        model.id,
        model,
      ]),
    );

  it("marks where each model comes from and whether a healthy backend serves it; deleting an override restores the configured model", async () => {
    const added = await scenario("catalog-source", 1);
    await pollBackends();
    const override = { deployment: "mixtral-8x7b-instruct", type: "chat", max_context_length: 32768 };
    expect((await adminCall("PUT", "/models/mistral-embed", { ...override, type: "embedding" })).status).toBe(200);

    let models = await catalog();
    expect(models.get(added.model)).toMatchObject({ source: "added", served: true });
    expect(models.get("open-mixtral-8x7b")).toMatchObject({ source: "configured", served: false });
    expect(models.get("mistral-embed")).toMatchObject({ source: "override", served: false });

    expect((await adminCall("DELETE", "/models/mistral-embed")).status).toBe(204);
    models = await catalog();
    expect(models.get("mistral-embed")).toMatchObject({ source: "configured" });
    // The configured model cannot be deleted: only what the admin API saved can.
    expect((await adminCall("DELETE", "/models/open-mixtral-8x7b")).status).toBe(404);
  });
});
