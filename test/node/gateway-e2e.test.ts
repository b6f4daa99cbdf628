import { Mistral } from "@mistralai/mistralai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { offlineEnv, startLocalGateway, type LocalGateway } from "./support/local-gateway.ts";

const run = promisify(execFile);

/** The gateway under `wrangler dev` (unstable_startWorker), in front of a real Node HTTP backend, driven by the official SDK. */
describe("gateway end to end", () => {
  let gateway: LocalGateway;

  const moxieKeys = async (...args: string[]) =>
    (
      await run("node", ["bin/moxie.js", "keys", ...args, "--url", gateway.url, "--admin-token", gateway.adminToken], {
        env: offlineEnv,
      })
    ).stdout;

  beforeAll(async () => {
    gateway = await startLocalGateway({ deltas: 5 });
  });

  afterAll(async () => {
    await gateway?.dispose();
  });

  it("serves the Mistral SDK with a key made by `moxie keys create`, until `moxie keys revoke`", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = JSON.parse(
      await moxieKeys(
        "create",
        "--name",
        "e2e",
        "--rpm",
        "100",
        "--max-budget",
        "5",
        "--budget-period",
        "day",
        "--expires-at",
        expiresAt,
        "--json",
      ),
    ) as { id: string; key: string };
    expect(Object.keys(created)).toEqual(["id", "key"]);
    const listed = JSON.parse(await moxieKeys("list", "--json")) as {
      id: string;
      expires_at: string;
      limits: Record<string, unknown>;
    }[];
    expect(listed.find((key) => key.id === created.id)).toMatchObject({
      expires_at: expiresAt,
      limits: { rpm: 100, max_budget: 5, budget_period: "day" },
    });
    const client = new Mistral({ apiKey: created.key, serverURL: gateway.url });

    const completion = await client.chat.complete({
      model: "mistral-small",
      messages: [{ role: "user", content: "Hello" }],
    });
    expect(completion.model).toBe("mistral-small");
    const text = completion.choices[0]?.message?.content;
    expect(text).toBe("word0 word1 word2 word3 word4 ");

    let streamed = "";
    let usage;
    for await (const event of await client.chat.stream({
      model: "open-mixtral-8x7b",
      messages: [{ role: "user", content: "Hello" }],
    })) {
      expect(event.data.model).toBe("open-mixtral-8x7b");
      streamed += event.data.choices[0]?.delta.content ?? "";
      usage = event.data.usage ?? usage;
    }
    expect(streamed).toBe(text);
    expect(usage).toMatchObject({ promptTokens: 10, completionTokens: 5 });

    const embeddings = await client.embeddings.create({ model: "mistral-embed", inputs: ["a", "b"] });
    expect(embeddings.data).toHaveLength(2);

    const models = await client.models.list();
    expect(models.data?.find((model) => "id" in model && model.id === "open-mixtral-8x7b")).toMatchObject({
      aliases: ["mistral-small", "mistral-small-latest"],
    });
    // models.retrieve: an alias answers with the card of the model it names.
    expect(await client.models.retrieve({ modelId: "mistral-small-latest" })).toMatchObject({
      id: "open-mixtral-8x7b",
      maxContextLength: 32768,
    });

    expect(await moxieKeys("list")).toContain(created.id);
    expect(await moxieKeys("revoke", created.id)).toContain(`revoked ${created.id}`);
    await expect(
      client.chat.complete({ model: "mistral-small", messages: [{ role: "user", content: "Hello" }] }),
    ).rejects.toMatchObject({ statusCode: 401 });
  });

  it("`moxie keys` refuses an unknown action with exit code 2", async () => {
    await expect(moxieKeys("rotate")).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("unknown action 'rotate'"),
    });
  });

  it("refuses a wrong key with 401 through the SDK", async () => {
    const client = new Mistral({ apiKey: "sk-moxie-wrong", serverURL: gateway.url });
    await expect(client.models.list()).rejects.toMatchObject({ statusCode: 401 });
  });
});
