import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface DevStack {
  url: string;
  apiKey: string;
  adminToken: string;
  model: string;
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `npm start` as a user runs it (`moxie dev`), on free ports with its own state folder; resolves when it prints "ready". */
export async function startDevStack(extraArgs: string[] = []): Promise<DevStack> {
  const stateDir = mkdtempSync(join(tmpdir(), "moxie-dev-"));
  const args = [
    "bin/moxie.js",
    "dev",
    "--state-dir",
    stateDir,
    "--port",
    String(await freePort()),
    "--backend-port",
    String(await freePort()),
    ...extraArgs,
  ];
  const child: ChildProcess = spawn("node", args, {
    env: { ...process.env, MOXIE_MODEL: "", MOXIE_CACHE_DIR: join(stateDir, "cache") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (data) => (output += data));
  child.stderr!.on("data", (data) => (output += data));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", () => output.includes("Ctrl-C stops everything") && resolve());
    void exited.then((code) => reject(new Error(`moxie dev exited with ${code}:\n${output}`)));
  });
  const state = JSON.parse(readFileSync(join(stateDir, "dev.json"), "utf8")) as Omit<DevStack, "output" | "stop">;
  return {
    ...state,
    output: () => output,
    async stop() {
      child.kill("SIGINT");
      await exited;
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
