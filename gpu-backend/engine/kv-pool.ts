/**
 * The KV cache's memory: per layer one key pool and one value pool of [kvHeads, blocks,
 * blockSize, headDim] floats, allocated once (untouched pages cost no memory). The graph reads
 * them in place as inputs, gathering each row's blocks by block table; only a step's new keys and
 * values are fetched and written here. On a GPU host the same layout stays on the device (see
 * bench/RESULTS.md): the pools become device buffers and the write becomes a scatter in the graph.
 */
export class KvPool {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];

  constructor(
    readonly layers: number,
    readonly kvHeads: number,
    readonly blocks: number,
    readonly blockSize: number,
    readonly headDim: number,
  ) {
    const size = kvHeads * blocks * blockSize * headDim;
    this.keys = Array.from({ length: layers }, () => new Float32Array(size));
    this.values = Array.from({ length: layers }, () => new Float32Array(size));
  }

  /** Offset of one position's head in a pool. */
  private offset(head: number, block: number, slot: number): number {
    return ((head * this.blocks + block) * this.blockSize + slot) * this.headDim;
  }

  /**
   * Writes `count` new positions starting at `position` of the sequence whose blocks are `table`,
   * taking rows `first`… of the step's new keys/values ([tokens, kvHeads, headDim]).
   */
  write(
    layer: number,
    table: number[],
    position: number,
    newKeys: Float32Array,
    newValues: Float32Array,
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
