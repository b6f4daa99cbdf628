import { InferenceSession, Tensor } from "onnxruntime-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionProvider } from "../../options.ts";
import { graphIo } from "../graph/graph-io.ts";
import { poolBlockIndices } from "../graph/kv-cache.ts";
import { GraphBuilder } from "../graph/onnx-builder.ts";
import { readsPoolInPlace } from "../graph/step-inputs.ts";
import { poolDims, windowDims, type KvPool, type KvPoolShape, type PoolWindow } from "../kv-pool.ts";

/**
 * The KV pool on the execution provider's device (WebGPU): per layer a key and a value buffer,
 * allocated once by a tiny session whose zero-filled output stays on the device, and handed to
 * every run both as feeds and as the model graph's preallocated outputs, so the graph's ScatterND
 * writes each step's new keys and values in place and nothing of the pool crosses to the host.
 * A float32 pool's window (inPlaceWindow) is fed as a second tensor over the same buffer; such a
 * tensor has no offset, so windows begin at the pool's first chunk. Block copies (copy-on-write of
 * a shared prefix block) run in a second tiny session, the same way.
 */
export class DeviceKvPool implements KvPool {
  private readonly pools: Record<string, Tensor> = {};
  readonly boundOutputs: Record<string, Tensor> = {};
  readonly stepOutputs: string[] = [];

  private constructor(
    readonly shape: KvPoolShape,
    /** Owns the buffers' allocator: it must outlive them. */
    private readonly allocator: InferenceSession,
    private readonly copier: InferenceSession,
    pools: Tensor[],
  ) {
    for (let layer = 0; layer < shape.layers; layer++) {
      const [keys, values] = pools.slice(2 * layer, 2 * layer + 2);
      this.pools[graphIo.keyCache(layer)] = keys;
      this.pools[graphIo.valueCache(layer)] = values;
      this.boundOutputs[graphIo.keyCacheWritten(layer)] = keys;
      this.boundOutputs[graphIo.valueCacheWritten(layer)] = values;
    }
  }

  static async create(provider: ExecutionProvider, shape: KvPoolShape): Promise<DeviceKvPool> {
    const dir = mkdtempSync(join(tmpdir(), "moxie-kv-pool-"));
    try {
      const options = { executionProviders: [provider], logSeverityLevel: 3 as const };
      const allocator = await InferenceSession.create(zerosGraph(dir, shape), {
        ...options,
        preferredOutputLocation: "gpu-buffer",
      });
      const copier = await InferenceSession.create(blockCopyGraph(dir, shape), options);
      const dims = BigInt64Array.from(poolDims(shape), BigInt);
      const pools: Tensor[] = [];
      for (let i = 0; i < 2 * shape.layers; i++) {
        const { zeros } = await allocator.run({ shape: new Tensor("int64", dims, [dims.length]) });
        pools.push(zeros);
      }
      return new DeviceKvPool(shape, allocator, copier, pools);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * The pools, and where the graph reads a window (readsPoolInPlace) that window: the first
   * chunks of each pool's buffer, viewed without a copy. The graph writes new keys and values into
   * the buffer as it reads the window; it reads only cells that this step does not write (a row's
   * new position is past its cached count, which the bias masks).
   */
  feeds(window?: PoolWindow): Record<string, Tensor> {
    if (!readsPoolInPlace(this.shape.dtype)) return this.pools;
    if (window && window.first !== 0) throw new Error(`a device pool's window begins at chunk 0, not ${window.first}`);
    const dims = windowDims(this.shape, window);
    const windows: Record<string, Tensor> = {};
    for (let layer = 0; layer < this.shape.layers; layer++) {
      for (const [pool, view] of [
        [graphIo.keyCache(layer), graphIo.keyPool(layer)],
        [graphIo.valueCache(layer), graphIo.valuePool(layer)],
      ])
        windows[view] = Tensor.fromGpuBuffer(this.pools[pool].gpuBuffer, { dataType: "float32", dims });
    }
    return { ...this.pools, ...windows };
  }

  store(): void {}

  async copyBlocks(copies: { from: number; to: number }[]): Promise<void> {
    if (copies.length === 0) return;
    const blocks = (pick: (copy: { from: number; to: number }) => number) =>
      new Tensor(
        "int64",
        BigInt64Array.from(copies, (copy) => BigInt(pick(copy))),
        [copies.length],
      );
    // All sources are read before any target is written: the scheduler's targets are fresh blocks, never a source.
    await this.copier.run(
      { ...this.pools, copy_from: blocks((c) => c.from), copy_to: blocks((c) => c.to) },
      this.boundOutputs,
    );
  }

  async close(): Promise<void> {
    for (const tensor of Object.values(this.pools)) tensor.dispose();
    await this.copier.release();
    await this.allocator.release();
  }
}

/** A graph whose output is a zero-filled pool of the shape it is fed (Expand runs on the device, so nothing is uploaded). */
function zerosGraph(dir: string, shape: KvPoolShape): Uint8Array {
  const g = GraphBuilder.create(join(dir, "zeros.data"), "zeros.data");
  const zeros = g.op("Expand", [g.scalar(0), g.input("shape", "int64", [poolDims(shape).length])]);
  if (shape.dtype === "float16") g.cast(zeros, "float16", "zeros");
  else g.node("Identity", [zeros], {}, { outputs: ["zeros"] });
  g.output("zeros", shape.dtype, poolDims(shape));
  return g.finish();
}

/** Every pool's blocks copy_from written over its blocks copy_to, in place (outputs bound to the pools). */
function blockCopyGraph(dir: string, shape: KvPoolShape): Uint8Array {
  const g = GraphBuilder.create(join(dir, "copy.data"), "copy.data");
  const dims = poolDims(shape);
  const from = g.input("copy_from", "int64", ["n"]);
  const to = g.input("copy_to", "int64", ["n"]);
  const chunkBlocks = g.ints([shape.chunkBlocks]);
  const [sources, targets] = [from, to].map((blocks) => poolBlockIndices(g, shape.kvHeads, chunkBlocks, blocks)); // [kvHeads, n, 3]
  for (let layer = 0; layer < shape.layers; layer++) {
    for (const [pool, written] of [
      [graphIo.keyCache(layer), graphIo.keyCacheWritten(layer)],
      [graphIo.valueCache(layer), graphIo.valueCacheWritten(layer)],
    ]) {
      g.input(pool, shape.dtype, dims);
      const blocks = g.op("GatherND", [pool, sources]); // [kvHeads, n, blockSize, headDim]
      g.node("ScatterND", [pool, targets, blocks], {}, { outputs: [written] });
      g.output(written, shape.dtype, dims);
    }
  }
  return g.finish();
}
