import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startChild } from "../../cli/dev/child.ts";

/** `moxie dev`'s service logs: a service stuck in an error loop must not fill the disk. */
describe("moxie dev's service logs", () => {
  const dir = mkdtempSync(join(tmpdir(), "moxie-dev-log-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("stop at the cap with a last line saying so, keep the child's output draining, and move an oversized old log aside", async () => {
    const logFile = join(dir, "gateway.log");
    writeFileSync(logFile, "x".repeat(3_000));
    // Far more than a pipe holds (64 KiB): a child whose output stopped being read would never exit.
    const script = "for (let i = 0; i < 20000; i++) console.log('line ' + i); console.error('last')";
    const child = startChild("spew", process.execPath, ["-e", script], {
      env: process.env,
      logFile,
      maxLogBytes: 1_000,
    });
    expect(await child.exited).toBe(0);
    await child.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const log = readFileSync(logFile, "utf8");
    expect(log.startsWith("line 0\n")).toBe(true);
    expect(log).toMatch(/\n\[moxie dev\] spew: log truncated after .*; the rest of its output is dropped\n$/);
    expect(log).not.toContain("last");
    expect(statSync(logFile).size).toBeLessThan(1_200);
    expect(existsSync(`${logFile}.1`) && statSync(`${logFile}.1`).size).toBe(3_000);
  });
});
