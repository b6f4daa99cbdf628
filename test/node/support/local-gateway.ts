import type { ServerType } from "@hono/node-server";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { unstable_startWorker } from "wrangler";
import type { BackendBehaviour } from "./fake-backend-contract.ts";
import { startFakeBackend } from "./fake-backend.ts";

const run = promisify(execFile);
const offline = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
export const offlineEnv = { ...process.env, ...offline };

export interface LocalGateway {
  /** The worker's origin. */
  url: string;
  /** The fake backend configured as `local`, at `${backendUrl}`. */
  backendUrl: string;
  adminToken: string;
  dispose(): Promise<void>;
}

/**
 * The gateway as `wrangler dev` runs it (unstable_startWorker, migrations applied with
 * `wrangler d1 migrations apply --local`), with the given vars and secrets on top of wrangler.toml's.
 */
export async function startGatewayWorker(
  bindings: Record<string, string>,
): Promise<{ url: string; dispose(): Promise<void> }> {
  // unstable_startWorker runs wrangler in this process: keep it offline too.
  Object.assign(process.env, offline);
  const persistDir = await mkdtemp(join(tmpdir(), "moxie-gateway-"));
  await run(
    "node",
    ["node_modules/wrangler/bin/wrangler.js", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir],
    { env: offlineEnv },
  );
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: Object.fromEntries(
      Object.entries(bindings).map(([name, value]) => [name, { type: "plain_text" as const, value }]),
    ),
    dev: {
      server: { hostname: "127.0.0.1", port: 0 },
      inspector: false,
      persist: persistDir,
      logLevel: "warn",
      watch: false,
    },
  });
  return {
    url: (await worker.url).origin,
    async dispose() {
      await worker.dispose();
      await rm(persistDir, { recursive: true, force: true });
    },
  };
}

/**
 * The gateway under `wrangler dev` (with `vars` on top) and one fake backend configured as `local`
 * in the BACKENDS var, as `moxie dev` configures its backend.
 */
export async function startLocalGateway(
  behaviour: Partial<BackendBehaviour> = {},
  vars: Record<string, string> = {},
): Promise<LocalGateway> {
  const adminToken = "local-admin-token";
  const backendSecret = "local-backend-secret";
  const backend: { url: string; server: ServerType } = await startFakeBackend();
  const backendUrl = `${backend.url}/b/local`;
  await fetch(`${backendUrl}/__control`, {
    method: "POST",
    body: JSON.stringify({ secret: backendSecret, ...behaviour }),
  });
  const worker = await startGatewayWorker({
    ADMIN_TOKEN: adminToken,
    LOCAL_BACKEND_SECRET: backendSecret,
    ALLOW_LOOPBACK_BACKENDS: "true",
    BACKENDS: JSON.stringify([{ id: "local", url: backendUrl, secret_name: "LOCAL_BACKEND_SECRET" }]),
    ...vars,
  });
  return {
    url: worker.url,
    backendUrl,
    adminToken,
    async dispose() {
      await worker.dispose();
      await new Promise((resolve) => backend.server.close(resolve));
    },
  };
}
