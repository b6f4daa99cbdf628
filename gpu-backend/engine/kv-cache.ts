/**
 * Per-slot key/value cache held in JS: each slot owns, per layer, a [kvHeads, capacity, headDim]
 * buffer allocated once (zero pages cost no memory until written) and appended in place. A step
 * feeds the graph only the rows it runs, gathered into reusable staging buffers cut to the
 * longest cached length, and gets back only the step's new keys and values.
 */
export class KvCache {
  private readonly keys: (Float32Array[] | null)[];
  private readonly values: (Float32Array[] | null)[];
  private readonly lengths: number[];
  private readonly staging: Float32Array[];

  constructor(
    readonly slots: number,
    readonly layers: number,
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
  ) {
    this.keys = Array.from({ length: slots }, () => null);
    this.values = Array.from({ length: slots }, () => null);
    this.lengths = new Array(slots).fill(0);
    this.staging = Array.from({ length: 2 * layers }, () => new Float32Array(0));
  }

  length(slot: number): number {
    return this.lengths[slot];
  }

  release(slot: number): void {
    this.lengths[slot] = 0;
  }

  /** Overwrites `to` with the first length(from) positions of `from`, in place in `to`'s buffers. */
  copy(from: number, to: number): void {
    const source = this.buffers(from);
    const target = this.buffers(to);
    const used = this.lengths[from] * this.headDim;
    for (let layer = 0; layer < this.layers; layer++) {
      for (let head = 0; head < this.kvHeads; head++) {
        const start = head * this.capacity * this.headDim;
        target.keys[layer].set(source.keys[layer].subarray(start, start + used), start);
        target.values[layer].set(source.values[layer].subarray(start, start + used), start);
      }
    }
    this.lengths[to] = this.lengths[from];
  }

  private buffers(slot: number): { keys: Float32Array[]; values: Float32Array[] } {
    const size = this.kvHeads * this.capacity * this.headDim;
    this.keys[slot] ??= Array.from({ length: this.layers }, () => new Float32Array(size));
    this.values[slot] ??= Array.from({ length: this.layers }, () => new Float32Array(size));
    return { keys: this.keys[slot]!, values: this.values[slot]! };
  }

  /** The cached keys and values of `slots` (null = a row with no cache) as [rows, kvHeads, past, headDim]. */
  gather(layer: number, slots: (number | null)[], past: number): { key: Float32Array; value: Float32Array } {
    const rowSize = this.kvHeads * past * this.headDim;
    const gathered = [0, 1].map((kind) => {
      const index = 2 * layer + kind;
      if (this.staging[index].length < slots.length * rowSize) this.staging[index] = new Float32Array(slots.length * rowSize);
      const out = this.staging[index].subarray(0, slots.length * rowSize);
      slots.forEach((slot, row) => {
        if (slot === null || this.lengths[slot] === 0) return;
        const source = kind === 0 ? this.buffers(slot).keys[layer] : this.buffers(slot).values[layer];
        const copied = this.lengths[slot] * this.headDim;
        for (let head = 0; head < this.kvHeads; head++) {
          const from = head * this.capacity * this.headDim;
          out.set(source.subarray(from, from + copied), (row * this.kvHeads + head) * past * this.headDim);
        }
      });
      return out;
    });
    return { key: gathered[0], value: gathered[1] };
  }

  /** Appends a step's new keys/values ([tokens, kvHeads, headDim]) for `count` tokens of `slot` starting at token `first`. */
  append(layer: number, slot: number, newKeys: Float32Array, newValues: Float32Array, first: number, count: number): void {
    const { keys, values } = this.buffers(slot);
    const start = this.lengths[slot];
    for (let t = 0; t < count; t++) {
      for (let head = 0; head < this.kvHeads; head++) {
        const from = ((first + t) * this.kvHeads + head) * this.headDim;
        const to = (head * this.capacity + start + t) * this.headDim;
        keys[layer].set(newKeys.subarray(from, from + this.headDim), to);
        values[layer].set(newValues.subarray(from, from + this.headDim), to);
      }
    }
  }

  /** Records that `count` tokens were appended to `slot` in every layer. */
  advance(slot: number, count: number): void {
    this.lengths[slot] += count;
  }
}
