import { describe, expect, it } from "vitest";
import { ModelCard } from "../../protocol/index.ts";
import { createKey, gateway, scenario } from "./gateway-client.ts";

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
