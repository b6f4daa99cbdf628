import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

/** Points the graph cache at a fresh temporary folder for this test file. */
export function useTempCache(): string {
  const dir = mkdtempSync(join(tmpdir(), "moxie-cache-"));
  const previous = process.env.MOXIE_CACHE_DIR;
  process.env.MOXIE_CACHE_DIR = dir;
  afterAll(() => {
    process.env.MOXIE_CACHE_DIR = previous;
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
