import type { KvCacheDtype } from "../options.ts";

/** float16 values travel as their bits: Node 20 has no Float16Array, and ORT hands float16 tensors over as Uint16Array. */
export type KvArray = Float32Array | Uint16Array;

/** What the KV pool stores: float32, or float16 (half the memory per token, as vLLM and llama.cpp keep it). */
export const kvBytesPerValue: Record<KvCacheDtype, number> = { float32: 4, float16: 2 };

/**
 * The KV cache's memory: per layer one key pool and one value pool of [kvHeads, blocks,
 * blockSize, headDim] values, allocated once (untouched pages cost no memory). The graph reads
 * them in place as inputs, gathering each row's blocks by block table; only a step's new keys and
 * values are fetched (already in the pool's dtype) and written here. On a GPU host the same layout
 * stays on the device (see bench/RESULTS.md): the pools become device buffers and the write
 * becomes a scatter in the graph.
 */
export class KvPool {
  readonly keys: KvArray[];
  readonly values: KvArray[];

  constructor(
    readonly layers: number,
    readonly kvHeads: number,
    readonly blocks: number,
    readonly blockSize: number,
    readonly headDim: number,
    readonly dtype: KvCacheDtype,
  ) {
    const size = kvHeads * blocks * blockSize * headDim;
    const array = () => (dtype === "float16" ? new Uint16Array(size) : new Float32Array(size));
    this.keys = Array.from({ length: layers }, array);
    this.values = Array.from({ length: layers }, array);
  }

  /** Offset of one position's head in a pool. */
  private offset(head: number, block: number, slot: number): number {
    return ((head * this.blocks + block) * this.blockSize + slot) * this.headDim;
  }

  /**
   * Writes `count` new positions starting at `position` of the sequence whose blocks are `table`,
   * taking rows `first`… of the step's new keys/values ([tokens, kvHeads, headDim], in the pool's dtype).
   */
  write(
    layer: number,
    table: number[],
    position: number,
    newKeys: KvArray,
    newValues: KvArray,
    first: number,
    count: number,
  ): void {
    const { headDim } = this;
    for (let t = 0; t < count; t++) {
      const block = table[Math.floor((position + t) / this.blockSize)];
      const slot = (position + t) % this.blockSize;
      for (let head = 0; head < this.kvHeads; head++) {
        const from = ((first + t) * this.kvHeads + head) * headDim;
        const to = this.offset(head, block, slot);
        this.keys[layer].set(newKeys.subarray(from, from + headDim), to);
        this.values[layer].set(newValues.subarray(from, from + headDim), to);
      }
    }
  }

  copyBlock(from: number, to: number): void {
    const size = this.blockSize * this.headDim;
    for (let layer = 0; layer < this.layers; layer++) {
      for (let head = 0; head < this.kvHeads; head++) {
        const source = this.offset(head, from, 0);
        this.keys[layer].copyWithin(this.offset(head, to, 0), source, source + size);
        this.values[layer].copyWithin(this.offset(head, to, 0), source, source + size);
      }
    }
  }
}
