import { blockDecoder, subBlock } from "../checkpoint/gguf/ggml-blocks.ts";
import { ggmlTypes, isQuantized, type GgmlQuantType } from "../checkpoint/gguf/ggml-types.ts";
import type { TensorEntry } from "../checkpoint/safetensors.ts";
import { readStored, rowBytes } from "../checkpoint/tensor-data.ts";

/**
 * A GGUF matrix in MatMulNBits' layout, holding exactly the values ggml's dequantisation gives.
 * MatMulNBits computes s·(code − 2^(bits−1)) per block; a ggml sub-block is s·q + c. So q is stored
 * as code = q + offset (4 bits when q fits, else 8), and what that leaves, c + s·(2^(bits−1) − offset),
 * goes to `correction`, added as Σ(x over the block)·correction by a small Gemm. Types with no c and
 * a centred q (Q4_0, Q8_0, Q5_0, Q6_K) need none.
 */
export interface NativeWeight {
  bits: 4 | 8;
  block: number;
  blocks: number;
  blobBytes: number;
  codes: Uint8Array;
  scales: Float32Array;
  /** [rows, blocks], or null when every block's is 0. */
  correction: Float32Array | null;
}

/** 4 bits for the types whose codes are nibbles, 8 for the rest; with the offset that makes q a code. */
const layouts: Record<GgmlQuantType, { bits: 4 | 8; offset: number }> = {
  Q4_0: { bits: 4, offset: 8 },
  Q4_1: { bits: 4, offset: 0 },
  Q4_K: { bits: 4, offset: 0 },
  Q5_0: { bits: 8, offset: 128 },
  Q5_1: { bits: 8, offset: 128 },
  Q5_K: { bits: 8, offset: 128 },
  Q8_0: { bits: 8, offset: 128 },
  Q6_K: { bits: 8, offset: 128 },
};

/** Types whose blocks have a min (or unsigned codes in 4 bits): they need the correction term. */
const corrected = new Set<GgmlQuantType>(["Q4_1", "Q5_1", "Q4_K", "Q5_K"]);

/** How the graph runs a stored type, for `moxie inspect`. */
export function describeNative(type: TensorEntry["dtype"]): string {
  if (!isQuantized(type)) return "float32";
  const { bits } = layouts[type];
  return `MatMulNBits ${bits}-bit, ${subBlock[type]} per scale${corrected.has(type) ? ", + Σx·min per block" : ""} (exact)`;
}

/** The MatMulNBits layout a tensor is held in ("4/32", "8/16" …); null for a float one. Parts with the same key stack into one matrix. */
export function nativeLayoutKey(entry: TensorEntry): string | null {
  return isQuantized(entry.dtype) ? `${layouts[entry.dtype].bits}/${subBlock[entry.dtype]}` : null;
}

/** Whether a stack of parts needs the correction term: decided by the types, so a graph's layout never depends on the values. */
export function needsCorrection(parts: TensorEntry[]): boolean {
  return parts.some((part) => corrected.has(part.dtype as GgmlQuantType));
}

/** The parts (rows stacked in order, all of one layout key) as one MatMulNBits weight. */
export function encodeNative(parts: TensorEntry[]): NativeWeight {
  const { bits, block, blocks, blobBytes, rows } = nativeShape(parts);
  const weight: NativeWeight = {
    bits,
    block,
    blocks,
    blobBytes,
    codes: new Uint8Array(rows * blocks * blobBytes),
    scales: new Float32Array(rows * blocks),
    correction: needsCorrection(parts) ? new Float32Array(rows * blocks) : null,
  };
  let row = 0;
  for (const part of parts) {
    encodePart(part, weight, row);
    row += part.shape[0];
  }
  return weight;
}

/** The MatMulNBits shape of stacked parts, known from the header alone. */
export function nativeShape(parts: TensorEntry[]) {
  const first = parts[0].dtype as GgmlQuantType;
  const { bits } = layouts[first];
  const block = subBlock[first];
  const k = parts[0].shape[1];
  return {
    bits,
    block,
    k,
    rows: parts.reduce((sum, part) => sum + part.shape[0], 0),
    blocks: k / block,
    blobBytes: (block * bits) / 8,
  };
}

/** Writes one part's rows from `firstRow` on. */
function encodePart(part: TensorEntry, weight: NativeWeight, firstRow: number): void {
  const type = part.dtype as GgmlQuantType;
  const { offset } = layouts[type];
  const zero = 1 << (weight.bits - 1);
  const { block: elements, bytes } = ggmlTypes[type];
  const { block: decoded, decode } = blockDecoder(type);
  const raw = readStored(part);
  const perRow = rowBytes(part) / bytes;
  const { sub } = decoded;
  const { correction } = weight;
  for (let r = 0; r < part.shape[0]; r++) {
    const row = firstRow + r;
    for (let b = 0; b < perRow; b++) {
      decode(raw, (r * perRow + b) * bytes);
      for (let j = 0; j < elements / sub; j++) {
        const index = row * weight.blocks + (b * elements) / sub + j;
        const scale = decoded.scales[j];
        weight.scales[index] = scale;
        if (correction) correction[index] = decoded.offsets[j] + scale * (zero - offset);
        const blob = index * weight.blobBytes;
        for (let i = 0; i < sub; i++) {
          const code = decoded.codes[j * sub + i] + offset;
          if (weight.bits === 8) weight.codes[blob + i] = code;
          else weight.codes[blob + (i >> 1)] |= i & 1 ? code << 4 : code;
        }
      }
    }
  }
}
