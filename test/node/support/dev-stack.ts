import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface DevStack {
  url: string;
  apiKey: string;
  adminToken: string;
  model: string;
  /** The `moxie dev` process: its descendants are the backend, wrangler and wrangler's workerd processes. */
  pid: number;
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
  const state = JSON.parse(readFileSync(join(stateDir, "dev.json"), "utf8")) as Omit<
    DevStack,
    "pid" | "output" | "stop"
  >;
  return {
    ...state,
    pid: child.pid!,
    output: () => output,
    async stop() {
      child.kill("SIGINT");
      await exited;
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The sockets held open by `pid` and every process below it (Linux: read from /proc). */
export function socketsBelow(pid: number): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent is the 2nd field after the command, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // The process ended meanwhile.
    }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of parents)
      if (!tree.has(child) && tree.has(parent)) {
        tree.add(child);
        grew = true;
      }
  }
  let sockets = 0;
  for (const member of tree) {
    try {
      for (const fd of readdirSync(`/proc/${member}/fd`))
        if (readlinkSafe(`/proc/${member}/fd/${fd}`).startsWith("socket:")) sockets += 1;
    } catch {
      // The process ended meanwhile.
    }
  }
  return sockets;
}

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}
