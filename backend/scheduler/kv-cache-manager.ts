import { blockHash, rootHash } from "./block-hash.ts";

/** A sequence's KV blocks in position order, and the prefix-cache keys of the full ones it has computed. */
export interface BlockTable {
  blocks: number[];
  hashes: string[];
  /** The parent of the first block's key: the request's cache salt, hashed (see rootHash). */
  root: string;
}

export const emptyBlockTable = (cacheSalt?: string): BlockTable => ({
  blocks: [],
  hashes: [],
  root: rootHash(cacheSalt),
});

/**
 * The KV cache's bookkeeping, after vLLM v1's KVCacheManager: the engine's pool is cut into
 * fixed-size blocks; each sequence holds a block table; blocks are reference-counted, so a
 * request's choices and requests with a common prefix share full blocks (nothing writes a full
 * block again). With prefix caching, a computed full block is keyed by its chained hash and stays
 * cached after its sequences end, until its memory is needed: free blocks holding nothing are used
 * first, then cached ones are evicted least recently used first.
 */
export class KvCacheManager {
  private readonly references: Int32Array;
  /** The key each block is cached under. */
  private readonly keys: (string | undefined)[];
  private readonly cached = new Map<string, number>();
  /** Free blocks that hold nothing cached, taken last-in first-out (low block numbers first at start). */
  private readonly empty: number[];
  /** Free blocks still cached, oldest first: the eviction order. */
  private readonly evictable = new Set<number>();
  /** Prompt tokens looked up in the prefix cache, and those found (vLLM's prefix_cache_queries / hits). */
  queries = 0;
  hits = 0;

  constructor(
    readonly blocks: number,
    readonly blockSize: number,
    readonly prefixCaching: boolean,
  ) {
    this.references = new Int32Array(blocks);
    this.keys = new Array<string | undefined>(blocks).fill(undefined);
    this.empty = Array.from({ length: blocks }, (_, i) => blocks - 1 - i);
  }

  /** Blocks a new allocation can take (evicting cached ones if needed). */
  get freeBlocks(): number {
    return this.empty.length + this.evictable.size;
  }

  /** Blocks that hold `length` positions. */
  blocksFor(length: number): number {
    return Math.ceil(length / this.blockSize);
  }

  /**
   * The cached blocks holding the longest prefix of `tokens` made of whole blocks, short of the last
   * token (whose logits must be computed), under the salt whose root is given (BlockTable.root).
   * Takes nothing: pass them to allocate().
   */
  lookup(tokens: number[], root = ""): number[] {
    if (!this.prefixCaching) return [];
    const found: number[] = [];
    let parent = root;
    for (let i = 0; i < Math.floor((tokens.length - 1) / this.blockSize); i++) {
      parent = blockHash(parent, tokens.slice(i * this.blockSize, (i + 1) * this.blockSize));
      const block = this.cached.get(parent);
      if (block === undefined) break;
      found.push(block);
    }
    return found;
  }

  /** Counts a lookup in the prefix-cache statistics (once per admitted request). */
  recordLookup(tokens: number, hitTokens: number): void {
    if (!this.prefixCaching) return;
    this.queries += tokens;
    this.hits += hitTokens;
  }

  /**
   * Appends the cached `prefix` blocks (from lookup) to an empty or growing table, then fresh
   * blocks until it holds `length` positions. All or nothing: false when too few blocks are free.
   */
  allocate(table: BlockTable, length: number, prefix: number[] = []): boolean {
    const fresh = this.blocksFor(length) - table.blocks.length - prefix.length;
    const revived = prefix.filter((block) => this.references[block] === 0).length;
    if (fresh > this.freeBlocks - revived) return false;
    for (const block of prefix) {
      this.evictable.delete(block);
      this.references[block]++;
      table.blocks.push(block);
      table.hashes.push(this.keys[block]!);
    }
    for (let i = 0; i < fresh; i++) {
      const block = this.empty.pop() ?? this.evict();
      this.references[block] = 1;
      table.blocks.push(block);
    }
    return true;
  }

  private evict(): number {
    const [block] = this.evictable;
    this.evictable.delete(block);
    this.cached.delete(this.keys[block]!);
    this.keys[block] = undefined;
    return block;
  }

  /** Gives `table` (empty) the first `count` full blocks of `source`, shared, not copied. */
  share(table: BlockTable, source: BlockTable, count: number): void {
    for (let i = 0; i < count; i++) {
      this.references[source.blocks[i]]++;
      table.blocks.push(source.blocks[i]);
      if (i < source.hashes.length) table.hashes.push(source.hashes[i]);
    }
  }

  /** Records that the table's first `computed` positions hold `tokens`' keys and values: its newly full blocks become cached. */
  commit(table: BlockTable, tokens: (from: number, to: number) => number[], computed: number): void {
    if (!this.prefixCaching) return;
    for (let i = table.hashes.length; i < Math.floor(computed / this.blockSize); i++) {
      const key = blockHash(table.hashes[i - 1] ?? table.root, tokens(i * this.blockSize, (i + 1) * this.blockSize));
      table.hashes.push(key);
      const block = table.blocks[i];
      if (this.cached.has(key) || this.keys[block] !== undefined) continue;
      this.cached.set(key, block);
      this.keys[block] = key;
    }
  }

  /** Returns a table's blocks; cached ones stay findable until evicted, the last block of a sequence first. */
  free(table: BlockTable): void {
    for (const block of [...table.blocks].reverse()) {
      if (--this.references[block] > 0) continue;
      if (this.keys[block] === undefined) this.empty.push(block);
      else this.evictable.add(block);
    }
    table.blocks = [];
    table.hashes = [];
  }
}
