import { Mistral } from "@mistralai/mistralai";
import type { ServerType } from "@hono/node-server";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";
import { startFakeBackend } from "./support/fake-backend.ts";

const run = promisify(execFile);
const ADMIN_TOKEN = "e2e-admin-token";
const BACKEND_SECRET = "e2e-backend-secret";
const offline = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

/** The gateway under `wrangler dev` (unstable_startWorker), in front of a real Node HTTP backend, driven by the official SDK. */
describe("gateway end to end", () => {
  let worker: Awaited<ReturnType<typeof unstable_startWorker>>;
  let backend: { url: string; server: ServerType };
  let persistDir: string;
  let url: string;

  const moxieKeys = async (...args: string[]) =>
    (await run("node", ["bin/moxie.js", "keys", ...args, "--url", url, "--admin-token", ADMIN_TOKEN], { env: offline })).stdout;

  beforeAll(async () => {
    backend = await startFakeBackend();
    await fetch(`${backend.url}/b/e2e/__control`, { method: "POST", body: JSON.stringify({ secret: BACKEND_SECRET, deltas: 5 }) });
    persistDir = await mkdtemp(join(tmpdir(), "moxie-gateway-e2e-"));
    await run("node", ["node_modules/wrangler/bin/wrangler.js", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir], { env: offline });
    worker = await unstable_startWorker({
      config: "wrangler.toml",
      bindings: {
        ADMIN_TOKEN: { type: "plain_text", value: ADMIN_TOKEN },
        E2E_BACKEND_SECRET: { type: "plain_text", value: BACKEND_SECRET },
      },
      dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: persistDir, logLevel: "warn", watch: false },
    });
    url = (await worker.url).origin;
    const registered = await fetch(`${url}/admin/backends`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ id: "e2e", url: `${backend.url}/b/e2e`, secret_name: "E2E_BACKEND_SECRET" }),
    });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toMatchObject({ id: "e2e", ready: true, models: ["mixtral-8x7b-instruct", "mistral-embed"] });
  });

  afterAll(async () => {
    await worker?.dispose();
    await new Promise((resolve) => backend?.server.close(resolve));
    if (persistDir) await rm(persistDir, { recursive: true, force: true });
  });

  it("serves the Mistral SDK with a key made by `moxie keys create`, until `moxie keys revoke`", async () => {
    const created = JSON.parse(await moxieKeys("create", "--name", "e2e", "--rpm", "100", "--json")) as { id: string; key: string };
    expect(Object.keys(created)).toEqual(["id", "key"]);
    const client = new Mistral({ apiKey: created.key, serverURL: url });

    const completion = await client.chat.complete({ model: "mistral-small", messages: [{ role: "user", content: "Hello" }] });
    expect(completion.model).toBe("mistral-small");
    const text = completion.choices[0]?.message?.content;
    expect(text).toBe("word0 word1 word2 word3 word4 ");

    let streamed = "";
    let usage;
    for await (const event of await client.chat.stream({ model: "open-mixtral-8x7b", messages: [{ role: "user", content: "Hello" }] })) {
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

    expect(await moxieKeys("list")).toContain(created.id);
    expect(await moxieKeys("revoke", created.id)).toContain(`revoked ${created.id}`);
    await expect(client.chat.complete({ model: "mistral-small", messages: [{ role: "user", content: "Hello" }] })).rejects.toMatchObject({ statusCode: 401 });
  });

  it("refuses a wrong key with 401 through the SDK", async () => {
    const client = new Mistral({ apiKey: "sk-moxie-wrong", serverURL: url });
    await expect(client.models.list()).rejects.toMatchObject({ statusCode: 401 });
  });
});
