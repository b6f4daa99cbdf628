import type { InferenceSession, Tensor } from "onnxruntime-node";
import type { KvCacheDtype } from "../options.ts";
import type { StepRow } from "./step-layout.ts";

/** float16 values travel as their bits: Node 20 has no Float16Array, and ORT hands float16 tensors over as Uint16Array. */
export type KvArray = Float32Array | Uint16Array;

/** What the KV pool stores: float32, or float16 (half the memory per token, as vLLM and llama.cpp keep it). */
export const kvBytesPerValue: Record<KvCacheDtype, number> = { float32: 4, float16: 2 };

/** The pool's sizes: `blocks` for the scheduler, then one scratch block (see stepLayout). */
export interface KvPoolShape {
  layers: number;
  kvHeads: number;
  blocks: number;
  blockSize: number;
  headDim: number;
  dtype: KvCacheDtype;
}

/** A layer's pool dimensions: [kvHeads, blocks + scratch, blockSize, headDim]. */
export const poolDims = ({ kvHeads, blocks, blockSize, headDim }: KvPoolShape): number[] => [
  kvHeads,
  blocks + 1,
  blockSize,
  headDim,
];

/**
 * The KV cache's memory, per layer one key pool and one value pool that the graph reads (gathering
 * each row's blocks by block table, or attending to the whole pool where it lies). Where it lives
 * decides who writes a step's new keys and values: JS into host memory (HostKvPool), or the graph
 * itself on a device (DeviceKvPool).
 */
export interface KvPool {
  readonly shape: KvPoolShape;
  /** The pools as a run's feeds; `inPlace`: also whole, to be attended where they lie (graphIo.keyPool). */
  feeds(inPlace: boolean): Record<string, Tensor>;
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
