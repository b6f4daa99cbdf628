import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { optionDefaults } from "../../options.ts";
import type { Checkpoint } from "../checkpoint/checkpoint.ts";
import { buildModelGraph, type GraphOptions } from "./model-graph.ts";
import { GraphBuilder } from "./onnx-builder.ts";
import { quantGroupSizeFor } from "./quantize.ts";

/** Bumped whenever the graph layout changes, so stale cached graphs are rebuilt. */
const graphVersion = 20;

export function cacheRoot(): string {
  return resolve(process.env.MOXIE_CACHE_DIR ?? join(homedir(), ".cache", "moxie"));
}

/** Same checkpoint files (path, size, mtime), same config and options → same graph. */
function cacheKey(checkpoint: Checkpoint, options: GraphOptions): string {
  const hash = createHash("sha256");
  hash.update(
    JSON.stringify({
      graphVersion,
      config: checkpoint.config,
      quantize: options.quantize ?? null,
      quantGroupSize: options.quantize ? quantGroupSizeFor(options.quantize, options.quantGroupSize) : null,
      accuracyLevel: options.accuracyLevel ?? null,
      dtype: options.dtype ?? optionDefaults.dtype,
      kvCacheDtype: options.kvCacheDtype ?? optionDefaults.kvCacheDtype,
      kvPool: options.kvPool ?? "host",
    }),
  );
  for (const file of checkpoint.files) {
    const stat = statSync(file);
    hash.update(`${resolve(file)}:${stat.size}:${stat.mtimeMs}`);
  }
  return hash.digest("hex").slice(0, 24);
}

/** Progress on stderr with the rate and time left, at most every two seconds, only for loads big enough to notice. */
function progressReporter(label: string): (done: number, total: number) => void {
  const started = Date.now();
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (total < 256 * 2 ** 20 || (now - last < 2000 && done < total)) return;
    last = now;
    const perSecond = (done / Math.max(1, now - started)) * 1000;
    const left = perSecond > 0 ? Math.round((total - done) / perSecond) : NaN;
    const eta = done >= total ? "done" : `${Math.floor(left / 60)} min ${left % 60} s left`;
    process.stderr.write(
      `${label}: ${(done / 2 ** 20).toFixed(0)} / ${(total / 2 ** 20).toFixed(0)} MB (${((100 * done) / total).toFixed(0)}%), ${(perSecond / 2 ** 20).toFixed(0)} MB/s, ${eta}\n`,
    );
  };
}

/**
 * Returns the path of the model's ONNX file, building it on a cache miss. The graph and its
 * weights are written to a temporary folder renamed into place, so concurrent loads never see
 * half a graph.
 */
export async function cachedModelGraph(checkpoint: Checkpoint, options: GraphOptions = {}): Promise<string> {
  const dir = join(cacheRoot(), cacheKey(checkpoint, options));
  const modelPath = join(dir, "model.onnx");
  if (existsSync(modelPath)) return modelPath;
  mkdirSync(cacheRoot(), { recursive: true });
  const building = `${dir}.building-${process.pid}-${Date.now()}`;
  mkdirSync(building);
  try {
    const builder = GraphBuilder.create(join(building, "model.data"), "model.data");
    await buildModelGraph(checkpoint, builder, {
      ...options,
      onProgress: options.onProgress ?? progressReporter(`converting ${checkpoint.dir}`),
    });
    writeFileSync(join(building, "model.onnx"), builder.finish());
    renameSync(building, dir);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    // Another process finished the same graph first: use theirs.
    if (!existsSync(modelPath)) throw error;
  }
  return modelPath;
}
