import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";

/** A service of the local stack: its own process group, so stopping it also stops what it spawned (workerd). */
export interface Child {
  name: string;
  process: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export function startChild(
  name: string,
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; logFile: string },
): Child {
  const log = createWriteStream(options.logFile, { flags: "a" });
  const child = spawn(command, args, { env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    name,
    process: child,
    logFile: options.logFile,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, "SIGTERM");
        const forced = setTimeout(() => signalGroup(child, "SIGKILL"), 5_000);
        await exited;
        clearTimeout(forced);
      }
      log.end();
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // The group is already gone.
  }
}

/** Polls `url` until `isReady` accepts the response; fails early if the child exits first. */
export async function waitUntilReady(
  child: Child,
  url: string,
  isReady: (response: Response) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined)
      throw new Error(`${child.name} exited (code ${exitCode}) before it was ready; see ${child.logFile}`);
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (response && isReady(response)) return;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${child.name} was not ready within ${timeoutMs / 1000} s; see ${child.logFile}`);
}
