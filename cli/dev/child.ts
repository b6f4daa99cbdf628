import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, renameSync, statSync } from "node:fs";
import { Writable } from "node:stream";

/**
 * The most one service writes to its log in one run. A service stuck in an error loop can write
 * gigabytes (wrangler's proxy workerd once logged 881k "Too many open files" errors, 1.3 GB): past
 * this, a last line says the log was cut and the rest is dropped, while the child's output is still
 * read so it never blocks on a full pipe.
 */
export const MAX_LOG_BYTES = 50 * 1024 * 1024;

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
  options: { env: NodeJS.ProcessEnv; logFile: string; maxLogBytes?: number },
): Child {
  const log = cappedLog(options.logFile, options.maxLogBytes ?? MAX_LOG_BYTES, name);
  const child = spawn(command, args, { env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
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
      // What the pipes still hold after the exit is not written after the end.
      child.stdout.unpipe(log);
      child.stderr.unpipe(log);
      log.end();
    },
  };
}

/**
 * Appends to `file` until `maxBytes` were written by this child, then writes one line saying so and
 * drops the rest (still accepting it, so the child's pipes keep draining). A file already over the
 * limit from earlier runs is moved to `<file>.1` first, so the logs stay bounded on disk too.
 */
function cappedLog(file: string, maxBytes: number, name: string): Writable {
  if (existsSync(file) && statSync(file).size >= maxBytes) renameSync(file, `${file}.1`);
  const out = createWriteStream(file, { flags: "a" });
  let written = 0;
  let cut = false;
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (cut) return done();
      let piece = chunk;
      if (written + chunk.length > maxBytes) {
        cut = true;
        const limit = `${(maxBytes / 1024 / 1024).toFixed(0)} MB`;
        piece = Buffer.concat([
          chunk.subarray(0, Math.max(0, maxBytes - written)),
          Buffer.from(`\n[moxie dev] ${name}: log truncated after ${limit}; the rest of its output is dropped\n`),
        ]);
      }
      written += piece.length;
      if (out.write(piece)) done();
      else out.once("drain", () => done());
    },
    final(done) {
      out.end(done);
    },
  });
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
