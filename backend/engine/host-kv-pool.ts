import { Tensor, type InferenceSession } from "onnxruntime-node";
import { graphIo } from "./graph/graph-io.ts";
import { readsPoolInPlace } from "./graph/step-inputs.ts";
import { blockRow, poolDims, type KvArray, type KvPool, type KvPoolShape, type PoolWindow } from "./kv-pool.ts";
import type { StepRow } from "./step-layout.ts";

/**
 * The KV pool in host memory, for the CPU EP: typed arrays allocated once (untouched pages cost no
 * memory) that the graph reads as feeds, without a copy: to gather rows' blocks, or a window of
 * whole chunks viewed as [chunks, kvHeads, chunkBlocks · blockSize, headDim] to attend where it lies
 * (inPlaceWindow). A step's new keys and values come back as outputs (already in the pool's dtype)
 * and are written here.
 */
export class HostKvPool implements KvPool {
  readonly keys: KvArray[];
  readonly values: KvArray[];
  private readonly pools: Record<string, Tensor> = {};
  /** What a step that gathers feeds as the window (a float32 pool; a float16 one is never read in place): no cells. */
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
    const nothing = new Tensor(shape.dtype, array(0), this.windowDims(0));
    for (const layer of layers) {
      this.pools[graphIo.keyCache(layer)] = new Tensor(shape.dtype, this.keys[layer], dims);
      this.pools[graphIo.valueCache(layer)] = new Tensor(shape.dtype, this.values[layer], dims);
      if (!readsPoolInPlace("host", shape.dtype)) continue;
      this.noWindow[graphIo.keyPool(layer)] = nothing;
      this.noWindow[graphIo.valuePool(layer)] = nothing;
    }
    this.stepOutputs = layers.flatMap((layer) => [graphIo.newKey(layer), graphIo.newValue(layer)]);
  }

  /** A window's dimensions; no chunks are fed as one chunk of no positions, which every product takes. */
  private windowDims(chunks: number): number[] {
    const { kvHeads, blockSize, headDim, chunkBlocks } = this.shape;
    return chunks === 0 ? [1, kvHeads, 0, headDim] : [chunks, kvHeads, chunkBlocks * blockSize, headDim];
  }

  feeds(window?: PoolWindow): Record<string, Tensor> {
    if (!window) return { ...this.pools, ...this.noWindow };
    const chunkSize = this.offset(0, this.shape.chunkBlocks, 0); // where the second chunk's first block starts
    const [from, to] = [window.first * chunkSize, (window.first + window.chunks) * chunkSize];
    const view = (pool: KvArray) => new Tensor("float32", pool.subarray(from, to), this.windowDims(window.chunks));
    const windows: Record<string, Tensor> = {};
    this.keys.forEach((keys, layer) => {
      windows[graphIo.keyPool(layer)] = view(keys);
      windows[graphIo.valuePool(layer)] = view(this.values[layer]);
    });
    return { ...this.pools, ...windows };
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
