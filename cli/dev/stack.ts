import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startChild, waitUntilReady, type Child } from "./child.ts";
import { ensureDefaultModel } from "./default-model.ts";
import { assertPortFree } from "./port.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const host = "127.0.0.1";
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const moxie = join(root, "bin", "moxie.js");

/** The deployments wrangler.toml's MODELS maps the public names to; the dev backend serves both. */
const devDeployments = ["mixtral-8x7b-instruct", "mistral-embed"];

export interface DevOptions {
  /** Where the default model, D1 state, logs and dev.json live. */
  stateDir: string;
  model?: string;
  port: number;
  backendPort: number;
  quantize?: string;
  threads?: number;
  executionProvider?: string;
  dtype?: string;
}

/** What `npm start` leaves in .moxie/dev.json for scripts. */
interface DevState {
  url: string;
  apiKey: string;
  adminToken: string;
  model: string;
}

/** Brings up backend + gateway locally, prints how to use them, and stops both on Ctrl-C. */
export async function runDevStack(options: DevOptions): Promise<void> {
  const stateDir = resolve(options.stateDir);
  mkdirSync(join(stateDir, "logs"), { recursive: true });
  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map((child) => child.stop()));
    process.exit(code);
  };
  process.once("SIGINT", () => void stopAll(0));
  process.once("SIGTERM", () => void stopAll(0));

  try {
    await assertPortFree(host, options.backendPort, "backend", "--backend-port");
    await assertPortFree(host, options.port, "gateway", "--port");

    const model = await step("model", async () => {
      if (options.model) return resolve(options.model);
      const { dir, created } = await ensureDefaultModel(stateDir);
      note(`${created ? "created" : "using cached"} ${dir}`);
      note(
        "its weights are RANDOM: answers are gibberish. Serve a real checkpoint with MOXIE_MODEL=/path/to/Mixtral-8x7B-Instruct-v0.1 npm start",
      );
      return dir;
    });

    const previous = readDevState(stateDir);
    const adminToken = previous?.adminToken ?? `moxie-admin-${randomBytes(24).toString("base64url")}`;
    const backendSecret = randomBytes(32).toString("base64url");
    const backendUrl = `http://${host}:${options.backendPort}`;
    const url = `http://${host}:${options.port}`;

    await step("backend", async () => {
      const args = [
        "serve",
        "--model",
        model,
        "--host",
        host,
        "--port",
        String(options.backendPort),
        "--served-model-name",
        devDeployments.join(","),
      ];
      if (options.quantize) args.push("--quantize", options.quantize);
      if (options.threads) args.push("--threads", String(options.threads));
      if (options.executionProvider) args.push("--execution-provider", options.executionProvider);
      if (options.dtype) args.push("--dtype", options.dtype);
      const backend = startChild("backend (moxie serve)", process.execPath, [moxie, ...args], {
        env: { ...process.env, MOXIE_BACKEND_SECRET: backendSecret },
        logFile: join(stateDir, "logs", "backend.log"),
      });
      children.push(backend);
      watchForCrash(backend, () => stopping, stopAll);
      await waitUntilReady(backend, `${backendUrl}/health`, (response) => response.ok, 300_000);
      note(`${backendUrl} (log: ${join(stateDir, "logs", "backend.log")})`);
    });

    await step("gateway", async () => {
      const envFile = join(stateDir, "gateway.env");
      const backends = [{ id: "local", url: backendUrl, models: devDeployments, secret_name: "DEV_BACKEND_SECRET" }];
      writeFileSync(
        envFile,
        [
          `ADMIN_TOKEN=${adminToken}`,
          `DEV_BACKEND_SECRET=${backendSecret}`,
          `BACKENDS='${JSON.stringify(backends)}'`,
          "ALLOW_LOOPBACK_BACKENDS=true",
          "",
        ].join("\n"),
        { mode: 0o600 },
      );
      const persist = join(stateDir, "wrangler");
      const env = {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        WRANGLER_SEND_METRICS: "false",
        CI: "true",
        ...withoutWranglerInspector(process.env),
      };
      const migrate = startChild(
        "D1 migrations",
        wrangler,
        ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
        {
          env,
          logFile: join(stateDir, "logs", "gateway.log"),
        },
      );
      if ((await migrate.exited) !== 0) throw new Error(`applying the D1 migrations failed; see ${migrate.logFile}`);
      const gateway = startChild(
        "gateway (wrangler dev)",
        wrangler,
        [
          "dev",
          "--ip",
          host,
          "--port",
          String(options.port),
          "--persist-to",
          persist,
          "--env-file",
          envFile,
          "--show-interactive-dev-session=false",
          "--log-level",
          "warn",
        ],
        { env, logFile: join(stateDir, "logs", "gateway.log") },
      );
      children.push(gateway);
      watchForCrash(gateway, () => stopping, stopAll);
      await waitUntilReady(gateway, `${url}/health`, (response) => response.ok, 60_000);
      note(`${url} (log: ${join(stateDir, "logs", "gateway.log")})`);
    });

    const apiKey = await step("dev API key", async () => {
      if (previous && previous.adminToken === adminToken && (await keyWorks(url, previous.apiKey))) {
        note(`reusing the key in ${join(stateDir, "dev.json")}`);
        return previous.apiKey;
      }
      const response = await fetch(`${url}/admin/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "dev" }),
      });
      if (!response.ok) throw new Error(`creating the dev key failed: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { key: string }).key;
    });

    const state: DevState = { url, apiKey, adminToken, model: "mistral-small" };
    writeFileSync(join(stateDir, "dev.json"), JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
    console.log(usage(state, join(stateDir, "dev.json"), process.uptime()));
  } catch (error) {
    console.error(`\nmoxie dev: ${(error as Error).message}`);
    await stopAll(1);
  }
  await new Promise(() => {});
}

/**
 * Turns off `wrangler dev`'s DevTools inspector proxy, which cannot take a streaming load (wrangler
 * 4.86, see the README's "`npm start` under load"). Its InspectorProxyWorker subscribes to the
 * worker's Network events and posts every DevTools message it gets to wrangler's Node process as a
 * separate HTTP request, even when nobody has DevTools open and the log level drops them: one per
 * chunk the gateway reads from a backend's stream. With 48 streams, the proxy workerd held 20,000
 * sockets (its fd limit) within 75 s, mostly CLOSE-WAIT, and a failed post is itself "logged" by
 * another post, so it then spins writing "Too many open files" until wrangler's Node runs out of heap.
 * The CLI has no flag for this (the API's `dev.inspector: false`, which the tests use, has no CLI
 * equivalent); wrangler skips its inspector in a VS Code debug terminal, recognised by this variable
 * (miniflare reads it only together with a `--require` bootloader in NODE_OPTIONS). Breakpoints and
 * the "d" hotkey go with it (the dev session is not interactive anyway); the worker's console.error
 * lines still reach the log through workerd's own output.
 */
function withoutWranglerInspector(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.VSCODE_INSPECTOR_OPTIONS ? {} : { VSCODE_INSPECTOR_OPTIONS: "{}" };
}

function watchForCrash(child: Child, stopping: () => boolean, stopAll: (code: number) => Promise<void>): void {
  void child.exited.then((code) => {
    if (stopping()) return;
    console.error(`\nmoxie dev: ${child.name} exited (code ${code}); see ${child.logFile}. Stopping.`);
    void stopAll(1);
  });
}

let stepNumber = 0;
async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  console.log(`[${++stepNumber}/4] ${name}…`);
  const result = await work();
  note(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

function note(text: string): void {
  console.log(`      ${text}`);
}

function readDevState(stateDir: string): DevState | undefined {
  const file = join(stateDir, "dev.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as DevState) : undefined;
}

async function keyWorks(url: string, apiKey: string): Promise<boolean> {
  const response = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } }).catch(
    () => undefined,
  );
  return response?.ok ?? false;
}

function usage({ url, apiKey, model }: DevState, stateFile: string, seconds: number): string {
  return `
moxie is ready in ${seconds.toFixed(1)} s — ${url}
API key (dev): ${apiKey}   (also in ${stateFile})
Console:       ${url}/console   (sign in with the admin token: "adminToken" in ${stateFile})

Stream a chat completion:
  curl -N ${url}/v1/chat/completions \\
    -H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json" \\
    -d '{"model": "${model}", "stream": true, "max_tokens": 32, "messages": [{"role": "user", "content": "Hello!"}]}'

Embeddings:
  curl ${url}/v1/embeddings \\
    -H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json" \\
    -d '{"model": "mistral-embed", "input": ["Hello", "Bonjour"]}'

Mistral SDK:  new Mistral({ apiKey: "${apiKey}", serverURL: "${url}" })
OpenAI SDK:   new OpenAI({ apiKey: "${apiKey}", baseURL: "${url}/v1" })

Ctrl-C stops everything.`;
}
