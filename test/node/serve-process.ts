import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const tinyModel = "../shared/fixtures/mixtral-tiny";

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts `moxie serve` as a real child process on a free loopback port (--port 0; the URL is
 * read from its "listening on" line) and waits until GET /health says ready.
 */
export async function startServe(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const cache = mkdtempSync(join(tmpdir(), "moxie-serve-cache-"));
  const child = spawn("node", ["bin/moxie.js", "serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    env: { ...process.env, MOXIE_CACHE_DIR: cache, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (data) => (stderr += data));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (data) => {
      stdout += data;
      const match = /listening on (http:\/\/\S+?),/.exec(stdout);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`moxie serve exited with ${code}: ${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(cache, { recursive: true, force: true });
  };
  for (let attempt = 0; ; attempt++) {
    const health = await fetch(`${url}/health`).catch(() => undefined);
    if (health?.ok) break;
    if (attempt > 600 || child.exitCode !== null) {
      await stop();
      throw new Error(`moxie serve did not become ready: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child, stderr: () => stderr, stop };
}

/** Runs `moxie serve` expecting it to refuse to start: its exit code and stderr. */
export function serveFailure(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn("node", ["bin/moxie.js", "serve", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (data) => (stderr += data));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}
