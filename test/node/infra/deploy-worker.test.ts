/**
 * infra/deploy-worker.sh and infra/wrangler-config.ts (through infra/wrangler-config-cli.ts): linted, its config
 * helpers run on scratch wrangler.toml files, and the script run through wrangler, offline and against a stand-in
 * Cloudflare API.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  durableObjects,
  findD1,
  findKv,
  resources,
  writeDeployConfig,
  writeSecretsFile,
} from "../../../infra/wrangler-config.ts";
import { startFakeCloudflareApi } from "../support/fake-cloudflare-api.ts";
import { hasShellcheck, read, repo, run } from "./infra-files.ts";

const scratch = mkdtempSync(join(tmpdir(), "moxie-infra-deploy-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const offline = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
/** A wrangler.toml for worker "gw" in the scratch folder, with these lines after name and main. */
function wranglerToml(file: string, lines: string[]): string {
  const path = join(scratch, file);
  writeFileSync(path, ['name = "gw"', 'main = "index.ts"', ...lines].join("\n"));
  return path;
}

describe("infra/deploy-worker.sh", () => {
  it("is executable bash with set -euo pipefail that passes bash -n and shellcheck", async () => {
    const script = read("infra/deploy-worker.sh");
    expect(script.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(script).toMatch(/^set -euo pipefail$/m);
    expect(statSync(join(repo, "infra/deploy-worker.sh")).mode & 0o111).not.toBe(0);
    await run("bash", ["-n", "infra/deploy-worker.sh"], { cwd: repo });
    if (hasShellcheck) await run("shellcheck", ["infra/deploy-worker.sh"], { cwd: repo });
  });

  it("refuses a Durable Object class that no migration creates, finds or falls back on resource ids, fills them into the deploy config", async () => {
    const config = wranglerToml("wrangler.toml", [
      'compatibility_date = "2026-04-20"',
      "[[d1_databases]]",
      'binding = "DB"',
      'database_name = "gw-db"',
      'database_id = "00000000-0000-0000-0000-000000000000"',
      "[[kv_namespaces]]",
      'binding = "KEY_CACHE"',
      "[[durable_objects.bindings]]",
      'name = "LIMITER"',
      'class_name = "Limiter"',
      "[[durable_objects.bindings]]",
      'name = "POOL"',
      'class_name = "Pool"',
      "[[migrations]]",
      'tag = "v1"',
      'new_sqlite_classes = ["Limiter"]',
    ]);
    await expect(durableObjects(config)).rejects.toThrow("no [[migrations]] entry creates Pool");
    expect(await resources(config)).toEqual([
      { kind: "d1", binding: "DB", name: "gw-db", configuredId: "00000000-0000-0000-0000-000000000000" },
      { kind: "kv", binding: "KEY_CACHE", name: "gw-key-cache", configuredId: undefined },
    ]);
    const databases = JSON.stringify([
      { name: "other", uuid: "u-1" },
      { name: "gw-db", uuid: "u-2" },
    ]);
    expect(findD1(databases, "gw-db")).toBe("u-2");
    expect(findD1(databases, "gone")).toBeUndefined();
    const namespaces = JSON.stringify([
      { id: "k-1", title: "gw-key-cache" },
      { id: "k-2", title: "kept" },
    ]);
    expect(findKv(namespaces, "gw-key-cache", "k-2")).toBe("k-2");
    expect(findKv(namespaces, "gw-key-cache", "placeholder")).toBe("k-1");
    expect(() => findD1("Not logged in.", "gw-db")).toThrow();

    const out = join(scratch, "deploy.json");
    await writeDeployConfig(
      config,
      out,
      new Map([
        ["DB", "u-2"],
        ["KEY_CACHE", "k-1"],
      ]),
    );
    const written = JSON.parse(readFileSync(out, "utf8"));
    expect(written.d1_databases[0]).toMatchObject({ binding: "DB", database_name: "gw-db", database_id: "u-2" });
    expect(written.kv_namespaces[0]).toEqual({ binding: "KEY_CACHE", id: "k-1" });
    expect(written.durable_objects).toEqual({
      bindings: [
        { name: "LIMITER", class_name: "Limiter" },
        { name: "POOL", class_name: "Pool" },
      ],
    });
  });

  it("collects the secrets to upload (admin token, required, static backends', named) from the environment, never from arguments", async () => {
    const config = wranglerToml("secrets.toml", [
      "[secrets]",
      'required = ["CORS_TOKEN"]',
      "[vars]",
      `BACKENDS = '[{"id": "a", "url": "http://a:8000", "secret_name": "GPU_A_TOKEN"}, {"id": "b", "url": "http://b:8000"}]'`,
    ]);
    const out = join(scratch, "secrets.json");
    const env = { ADMIN_TOKEN: "admin-secret", GPU_A_TOKEN: "gpu-a-secret", CORS_TOKEN: "" };
    expect(await writeSecretsFile(config, out, env, ["SKY_TOKEN"])).toEqual([
      { name: "ADMIN_TOKEN", set: true },
      { name: "CORS_TOKEN", set: false },
      { name: "GPU_A_TOKEN", set: true },
      { name: "SKY_TOKEN", set: false },
    ]);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ ADMIN_TOKEN: "admin-secret", GPU_A_TOKEN: "gpu-a-secret" });
    expect(statSync(out).mode & 0o077).toBe(0);
  });

  it("deploys through wrangler to a stand-in Cloudflare API: creates and migrates the database, uploads resolved ids and secrets", async () => {
    const api = await startFakeCloudflareApi("fake-account");
    try {
      const env = {
        ...offline,
        CLOUDFLARE_API_BASE_URL: api.baseUrl,
        CLOUDFLARE_API_TOKEN: "fake-token",
        CLOUDFLARE_ACCOUNT_ID: "fake-account",
        ADMIN_TOKEN: "admin-secret",
        GPU_TOKEN: "gpu-secret",
      };
      const { stdout } = await run("infra/deploy-worker.sh", ["--secret", "GPU_TOKEN"], {
        cwd: repo,
        env,
        maxBuffer: 16 * 1024 * 1024,
      });
      expect(api.account.unknown).toEqual([]);
      const wanted = await resources(join(repo, "wrangler.toml"));
      expect(api.account.databases.map((db) => db.name).sort()).toEqual(
        wanted
          .filter((r) => r.kind === "d1")
          .map((r) => r.name)
          .sort(),
      );
      for (const db of api.account.databases) expect(stdout).toContain(`creating D1 database ${db.name}`);
      expect(api.account.namespaces.map((kv) => kv.title).sort()).toEqual(
        wanted
          .filter((r) => r.kind === "kv")
          .map((r) => r.name)
          .sort(),
      );
      // Each migration file ran, and was recorded as applied.
      const migrationFiles = readdirSync(join(repo, "migrations")).filter((file) => file.endsWith(".sql"));
      const recorded = [...api.account.queries.values()]
        .flat()
        .flatMap((sql) =>
          [...sql.matchAll(/INSERT INTO d1_migrations \(name\)\s*values\s*\('([^']+)'\)/gi)].map((match) => match[1]),
        );
      expect(recorded.sort()).toEqual(migrationFiles.sort());

      expect(api.account.uploads).toHaveLength(1);
      // The console's files go up as the worker's static assets.
      expect(Object.keys(api.account.assets.get(api.account.uploads[0].script) ?? {})).toEqual(
        expect.arrayContaining(["/index.html", "/app.js"]),
      );
      const { bindings, keep_bindings } = api.account.uploads[0].metadata;
      for (const db of api.account.databases) {
        const binding = wanted.find((r) => r.kind === "d1" && r.name === db.name)!.binding;
        expect(bindings).toContainEqual(expect.objectContaining({ name: binding, type: "d1", id: db.uuid }));
      }
      expect(bindings).toContainEqual({ name: "ADMIN_TOKEN", type: "secret_text", text: "admin-secret" });
      expect(bindings).toContainEqual({ name: "GPU_TOKEN", type: "secret_text", text: "gpu-secret" });
      // Secrets not in the environment keep their deployed values.
      expect(keep_bindings).toContain("secret_text");
      for (const { binding, className } of await durableObjects(join(repo, "wrangler.toml"))) {
        expect(bindings).toContainEqual(
          expect.objectContaining({ name: binding, type: "durable_object_namespace", class_name: className }),
        );
      }
      expect(existsSync(join(repo, ".wrangler.deploy.json"))).toBe(false);
    } finally {
      await api.close();
    }
  }, 180_000);

  it("--dry-run bundles the worker offline with every Durable Object class exported, and leaves no generated config", async () => {
    const outdir = join(scratch, "bundle");
    const { stdout } = await run("infra/deploy-worker.sh", ["--dry-run", "--outdir", outdir], {
      cwd: repo,
      env: offline,
    });
    expect(stdout).toContain("--dry-run: exiting now.");
    const bundle = readFileSync(join(outdir, "index.js"), "utf8");
    const exports = /export\s*\{([^}]*)\}\s*;?\s*(\/\/.*)?$/.exec(bundle.trimEnd())![1];
    const bound = await durableObjects(join(repo, "wrangler.toml"));
    expect(bound.length).toBeGreaterThan(0);
    for (const { binding, className } of bound) {
      expect(stdout).toContain(`${binding} -> class ${className}`);
      expect(
        exports.split(",").map((name) =>
          name
            .trim()
            .split(/\s+as\s+/)
            .at(-1),
        ),
        className,
      ).toContain(className);
    }
    expect(existsSync(join(repo, ".wrangler.deploy.json"))).toBe(false);
  }, 120_000);
});
