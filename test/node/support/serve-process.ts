import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves once GET /health says ready; rejects if the process exits first or takes over a minute. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Spawns `moxie serve ARGS` as a real child process, on loopback and a free port unless ARGS name
 * them, and resolves once it listens (the URL is read from its "listening on" line). Its graph cache
 * is a fresh folder, removed on stop, unless `env` names MOXIE_CACHE_DIR. Tests, bench/ and the infra
 * test all start backends through it.
 */
export async function spawnServe(args: string[], env: Record<string, string | undefined> = {}): Promise<ServeProcess> {
  const ownCache = env.MOXIE_CACHE_DIR === undefined;
  const cache = env.MOXIE_CACHE_DIR ?? mkdtempSync(join(tmpdir(), "moxie-serve-cache-"));
  const child = spawn("node", ["bin/moxie.js", "serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    env: { ...process.env, ...env, MOXIE_CACHE_DIR: cache },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (data) => (stderr += data));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    if (ownCache) rmSync(cache, { recursive: true, force: true });
  };
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (data) => {
      stdout += data;
      const match = /listening on (http:\/\/\S+?),/.exec(stdout);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`moxie serve exited with ${code}: ${stderr}`)));
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  const ready = async () => {
    for (let attempt = 0; ; attempt++) {
      const health = await fetch(`${url}/health`).catch(() => undefined);
      if (health?.ok) return;
      if (attempt > 600 || child.exitCode !== null) throw new Error(`moxie serve did not become ready: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return { url, child, stderr: () => stderr, ready, stop };
}

/** `spawnServe`, then waits until the model is loaded. */
export async function startServe(args: string[], env: Record<string, string | undefined> = {}): Promise<ServeProcess> {
  const server = await spawnServe(args, env);
  try {
    await server.ready();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** Runs `moxie serve` expecting it to refuse to start: its exit code and stderr. */
export function serveFailure(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn("node", ["bin/moxie.js", "serve", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (data) => (stderr += data));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}
