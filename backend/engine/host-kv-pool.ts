import { Tensor, type InferenceSession } from "onnxruntime-node";
import { graphIo } from "./graph/graph-io.ts";
import { readsPoolInPlace } from "./graph/step-inputs.ts";
import {
  blockRow,
  poolDims,
  windowDims,
  type KvArray,
  type KvPool,
  type KvPoolShape,
  type PoolWindow,
} from "./kv-pool.ts";
import type { StepRow } from "./step-layout.ts";

/**
 * The KV pool in host memory, for the CPU EP: typed arrays allocated once (untouched pages cost no
 * memory) that the graph reads as feeds, without a copy: to gather rows' blocks, or a window of
 * whole chunks (windowDims) to attend where it lies (inPlaceWindow). A step's new keys and values
 * come back as outputs (already in the pool's dtype) and are written here.
 */
export class HostKvPool implements KvPool {
  readonly keys: KvArray[];
  readonly values: KvArray[];
  private readonly pools: Record<string, Tensor> = {};
  /** What a step that gathers feeds as the window (a float32 pool; a float16 one is never read in place). */
  private readonly noWindow: Record<string, Tensor> = {};
  readonly boundOutputs = {};
  readonly stepOutputs: string[];

  constructor(readonly shape: KvPoolShape) {
    const dims = poolDims(shape);
    const size = dims.reduce((a, b) => a * b);
    const array = (length = size) => (shape.dtype === "float16" ? new Uint16Array(length) : new Float32Array(length));
    const layers = Array.from({ length: shape.layers }, (_, layer) => layer);
    this.keys = layers.map(() => array());
    this.values = layers.map(() => array());
    for (const layer of layers) {
      this.pools[graphIo.keyCache(layer)] = new Tensor(shape.dtype, this.keys[layer], dims);
      this.pools[graphIo.valueCache(layer)] = new Tensor(shape.dtype, this.values[layer], dims);
      if (!readsPoolInPlace(shape.dtype)) continue;
      this.noWindow[graphIo.keyPool(layer)] = this.view(this.keys[layer]);
      this.noWindow[graphIo.valuePool(layer)] = this.view(this.values[layer]);
    }
    this.stepOutputs = layers.flatMap((layer) => [graphIo.newKey(layer), graphIo.newValue(layer)]);
  }

  feeds(window?: PoolWindow): Record<string, Tensor> {
    if (!window) return { ...this.pools, ...this.noWindow };
    const windows: Record<string, Tensor> = {};
    this.keys.forEach((keys, layer) => {
      windows[graphIo.keyPool(layer)] = this.view(keys, window);
      windows[graphIo.valuePool(layer)] = this.view(this.values[layer], window);
    });
    return { ...this.pools, ...windows };
  }

  /** A window of a float32 pool as a tensor over its memory (windowDims). */
  private view(pool: KvArray, window?: PoolWindow): Tensor {
    const dims = windowDims(this.shape, window);
    const from = window ? window.first * this.offset(0, this.shape.chunkBlocks, 0) : 0; // chunk size: where the second chunk starts
    return new Tensor("float32", pool.subarray(from, from + dims.reduce((a, b) => a * b)), dims);
  }

  /** Offset of one position's head in a pool (kv-pool.ts: blockRow). */
  private offset(head: number, block: number, slot: number): number {
    const { blockSize, headDim, chunkBlocks } = this.shape;
    return ((blockRow(block, this.shape) + head * chunkBlocks) * blockSize + slot) * headDim;
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
