import { Tensor, type InferenceSession } from "onnxruntime-node";
import { graphIo } from "./graph/graph-io.ts";
import { readsPoolInPlace } from "./graph/step-inputs.ts";
import { poolDims, type KvArray, type KvPool, type KvPoolShape } from "./kv-pool.ts";
import type { StepRow } from "./step-layout.ts";

/**
 * The KV pool in host memory, for the CPU EP: typed arrays allocated once (untouched pages cost no
 * memory) that the graph reads as feeds, without a copy: to gather rows' blocks, or also viewed
 * whole as [kvHeads, 1, N, headDim] to attend where they lie (readsInPlace). A step's new keys and
 * values come back as outputs (already in the pool's dtype) and are written here.
 */
export class HostKvPool implements KvPool {
  readonly keys: KvArray[];
  readonly values: KvArray[];
  private readonly pools: Record<string, Tensor> = {};
  /** A float32 pool viewed whole for a step that reads it in place, and empty for one that gathers (none in float16). */
  private readonly whole: Record<string, Tensor> = {};
  private readonly empty: Record<string, Tensor> = {};
  readonly boundOutputs = {};
  readonly stepOutputs: string[];

  constructor(readonly shape: KvPoolShape) {
    const dims = poolDims(shape);
    const size = dims.reduce((a, b) => a * b);
    const array = (length = size) => (shape.dtype === "float16" ? new Uint16Array(length) : new Float32Array(length));
    const layers = Array.from({ length: shape.layers }, (_, layer) => layer);
    this.keys = layers.map(() => array());
    this.values = layers.map(() => array());
    const [kvHeads, blocks, blockSize, headDim] = dims;
    const nothing = new Tensor(shape.dtype, array(0), [kvHeads, 1, 0, headDim]);
    const viewedWhole = readsPoolInPlace("host", shape.dtype);
    for (const layer of layers) {
      for (const [name, wholeName, pool] of [
        [graphIo.keyCache(layer), graphIo.keyPool(layer), this.keys[layer]],
        [graphIo.valueCache(layer), graphIo.valuePool(layer), this.values[layer]],
      ] as const) {
        this.pools[name] = new Tensor(shape.dtype, pool, dims);
        if (!viewedWhole) continue;
        this.whole[wholeName] = new Tensor(shape.dtype, pool, [kvHeads, 1, blocks * blockSize, headDim]);
        this.empty[wholeName] = nothing;
      }
    }
    this.stepOutputs = layers.flatMap((layer) => [graphIo.newKey(layer), graphIo.newValue(layer)]);
  }

  feeds(inPlace: boolean): Record<string, Tensor> {
    return { ...this.pools, ...(inPlace ? this.whole : this.empty) };
  }

  /** Offset of one position's head in a pool. */
  private offset(head: number, block: number, slot: number): number {
    const { blocks, blockSize, headDim } = this.shape;
    return ((head * (blocks + 1) + block) * blockSize + slot) * headDim;
  }

  store(outputs: InferenceSession.OnnxValueMapType, rows: StepRow[]): void {
    const { kvHeads, headDim, blockSize } = this.shape;
    this.keys.forEach((keyPool, layer) => {
      const valuePool = this.values[layer];
      const keys = outputs[graphIo.newKey(layer)].data as KvArray; // [T, kvHeads, headDim]
      const values = outputs[graphIo.newValue(layer)].data as KvArray;
      let token = 0;
      for (const { blocks, past, tokens } of rows) {
        for (let position = past; position < past + tokens.length; position++, token++) {
          const block = blocks[Math.floor(position / blockSize)];
          for (let head = 0; head < kvHeads; head++) {
            const from = (token * kvHeads + head) * headDim;
            const to = this.offset(head, block, position % blockSize);
            keyPool.set(keys.subarray(from, from + headDim), to);
            valuePool.set(values.subarray(from, from + headDim), to);
          }
        }
      }
    });
  }

  copyBlocks(copies: { from: number; to: number }[]): Promise<void> {
    const { kvHeads, blockSize, headDim } = this.shape;
    const size = blockSize * headDim;
    for (const { from, to } of copies) {
      for (const pool of [...this.keys, ...this.values]) {
        for (let head = 0; head < kvHeads; head++) {
          const source = this.offset(head, from, 0);
          pool.copyWithin(this.offset(head, to, 0), source, source + size);
        }
      }
    }
    return Promise.resolve();
  }

  async close(): Promise<void> {}
}
