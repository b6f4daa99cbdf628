import { closeSync, openSync } from "node:fs";
import { dequantize } from "./gguf/ggml-blocks.ts";
import { ggmlBytes, isQuantized } from "./gguf/ggml-types.ts";
import { readFully, widenToF32, type TensorEntry } from "./safetensors.ts";

/** Bytes of one row (the last dimension) of a tensor as stored. */
export function rowBytes(entry: TensorEntry): number {
  return ggmlBytes(entry.dtype, entry.shape[entry.shape.length - 1]);
}

/**
 * The stored row of a tensor that holds Hugging Face's row `row`. GGUF permutes attn_q/attn_k
 * within each head (convert_hf_to_gguf's permute): HF row j·half + i of a head is its row 2i + j.
 */
export function storedRow(entry: TensorEntry, row: number): number {
  if (!entry.permutedHeads) return row;
  const perHead = entry.shape[0] / entry.permutedHeads;
  const half = perHead / 2;
  const head = Math.floor(row / perHead);
  const within = row % perHead;
  return head * perHead + (within % half) * 2 + Math.floor(within / half);
}

/** A tensor's stored bytes, rows in Hugging Face's order. */
export function readStored(entry: TensorEntry): Uint8Array {
  const raw = new Uint8Array(entry.byteLength);
  const fd = openSync(entry.file, "r");
  try {
    if (!entry.permutedHeads) readFully(fd, raw, entry.offset, `${entry.file}: ${entry.name}`);
    else {
      const bytes = rowBytes(entry);
      for (let row = 0; row < entry.shape[0]; row++)
        readFully(
          fd,
          raw.subarray(row * bytes, (row + 1) * bytes),
          entry.offset + storedRow(entry, row) * bytes,
          `${entry.file}: ${entry.name}`,
        );
    }
  } finally {
    closeSync(fd);
  }
  return raw;
}

/** Stored elements (whole rows) as float32: widened, or dequantised as ggml does. */
export function decodeF32(dtype: TensorEntry["dtype"], raw: Uint8Array, out: Float32Array): void {
  if (dtype === "F32") out.set(new Float32Array(raw.buffer, raw.byteOffset, out.length));
  else if (isQuantized(dtype)) dequantize(dtype, raw, 0, out);
  else widenToF32(raw, dtype, out);
}

/** Reads one tensor as float32, whatever its stored type. */
export function readTensorF32(entry: TensorEntry): Float32Array {
  const out = new Float32Array(entry.shape.reduce((product, dim) => product * dim, 1));
  decodeF32(entry.dtype, readStored(entry), out);
  return out;
}
