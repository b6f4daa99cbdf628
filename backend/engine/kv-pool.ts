import type { InferenceSession, Tensor } from "onnxruntime-node";
import type { KvCacheDtype, KvPoolPlace } from "../options.ts";
import type { StepRow } from "./step-layout.ts";

/** float16 values travel as their bits: Node 20 has no Float16Array, and ORT hands float16 tensors over as Uint16Array. */
export type KvArray = Float32Array | Uint16Array;

/** What the KV pool stores: float32, or float16 (half the memory per token, as vLLM and llama.cpp keep it). */
export const kvBytesPerValue: Record<KvCacheDtype, number> = { float32: 4, float16: 2 };

/** The pool's sizes: `blocks` for the scheduler, then one scratch block (see stepLayout), in chunks of `chunkBlocks` blocks. */
export interface KvPoolShape {
  layers: number;
  kvHeads: number;
  blocks: number;
  blockSize: number;
  headDim: number;
  dtype: KvCacheDtype;
  chunkBlocks: number;
  /**
   * Where the pool lives. On a device (WebGPU) a window is a second tensor over the pool's buffer,
   * which has no offset, so windows begin at chunk 0; and no part of attention may be empty (a
   * device EP's kernels fail on empty tensors), so a step that reads in place still gathers each
   * row's first block, and one that gathers reads a window of one masked block. The host needs
   * neither, and skips those small products (about a millisecond a step on mini).
   */
  place: KvPoolPlace;
}

/** A chunk of a pool that holds more than one sequence (chunkBlocksFor). */
export const sharedChunkBlocks = 64;

/**
 * Blocks per chunk. The pool is chunk-major, so any run of whole chunks is one contiguous slab
 * holding every head's cells: a window of the pool that attention can read where it lies
 * (inPlaceWindow). A pool of one sequence is one chunk, read whole as one matrix per head: at 16k
 * cached tokens that measured about 10% faster than chunks of 64 blocks, whose products are 16
 * times as many small ones. Otherwise 64 blocks, 1,024 positions at the default block size: fewer
 * products than with 16 blocks, and a window still not much wider than the blocks it covers once a
 * conversation is long enough for reading in place to matter.
 */
export const chunkBlocksFor = (blocks: number, sequences?: number): number =>
  sequences === 1 ? blocks + 1 : Math.min(sharedChunkBlocks, blocks + 1);

/** Chunks that hold the pool's blocks and its scratch block. */
export const poolChunks = ({ blocks, chunkBlocks }: KvPoolShape): number => Math.ceil((blocks + 1) / chunkBlocks);

/** A layer's pool dimensions: [chunks, kvHeads, chunkBlocks, blockSize, headDim]. */
export const poolDims = (shape: KvPoolShape): number[] => [
  poolChunks(shape),
  shape.kvHeads,
  shape.chunkBlocks,
  shape.blockSize,
  shape.headDim,
];

/**
 * A block's first row in a pool viewed as rows of [blockSize, headDim], [chunks · kvHeads ·
 * chunkBlocks, blockSize, headDim]: the row of its head 0; head h's is h · chunkBlocks rows on.
 */
export const blockRow = (block: number, { kvHeads, chunkBlocks }: KvPoolShape): number =>
  Math.floor(block / chunkBlocks) * kvHeads * chunkBlocks + (block % chunkBlocks);

/** The chunks [first, first + chunks) of every layer's pool, read where they lie by a step (inPlaceWindow). */
export interface PoolWindow {
  first: number;
  chunks: number;
}

/**
 * The blocks that stand in for a part of attention that would be empty (KvPoolShape.place): each
 * row's first block, gathered by a step that reads in place, and the masked window of a step that
 * gathers. One on a device, whose kernels fail on empty tensors; none on the host.
 */
export const standInBlocks = (place: KvPoolPlace): number => (place === "device" ? 1 : 0);

/**
 * A window's dimensions, [chunks, kvHeads, chunkBlocks · blockSize, headDim]. A step that gathers
 * feeds as its window no positions on the host, and on a device the pool's first cells viewed as
 * one block, every one masked (KvPoolShape.place).
 */
export const windowDims = (shape: KvPoolShape, window?: PoolWindow): number[] => {
  const { kvHeads, blockSize, headDim, chunkBlocks, place } = shape;
  const positions = (window ? chunkBlocks : standInBlocks(place)) * blockSize;
  return [window?.chunks ?? 1, kvHeads, positions, headDim];
};

/**
 * The KV cache's memory, per layer one key pool and one value pool that the graph reads (gathering
 * each row's blocks by block table, or attending to a window of whole chunks where it lies). Where it lives
 * decides who writes a step's new keys and values: JS into host memory (HostKvPool), or the graph
 * itself on a device (DeviceKvPool).
 */
export interface KvPool {
  readonly shape: KvPoolShape;
  /** The pools as a run's feeds, and the window a step attends to where it lies (graphIo.keyPool), if it does. */
  feeds(window?: PoolWindow): Record<string, Tensor>;
  /** Outputs bound to the pools' own buffers (a device pool's in-place writes). */
  readonly boundOutputs: Record<string, Tensor>;
  /** Outputs a step fetches for the pool (a host pool's new keys and values). */
  readonly stepOutputs: string[];
  /** Takes a step's new keys and values from its outputs (a host pool). */
  store(outputs: InferenceSession.OnnxValueMapType, rows: StepRow[]): void;
  /** Copies whole blocks (every layer), in order. */
  copyBlocks(copies: { from: number; to: number }[]): Promise<void>;
  close(): Promise<void>;
}
