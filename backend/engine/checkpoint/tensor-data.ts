import { closeSync, openSync } from "node:fs";
import { CheckpointError } from "./config.ts";
import { dequantize } from "./gguf/ggml-blocks.ts";
import { ggmlBytes, isQuantized, type GgmlType } from "./gguf/ggml-types.ts";
import { readFully, widenToF32, type TensorEntry } from "./safetensors.ts";

/**
 * The element type of a tensor read as floats (float, or ggml blocks). GPTQ/AWQ's int32 parts and
 * packed Linears have none: only their MatMulNBits encoding reads them (graph/prequantized.ts).
 */
function elementType(entry: TensorEntry): GgmlType {
  const { dtype } = entry;
  if (dtype === "I32" || dtype === "GPTQ" || dtype === "AWQ")
    throw new CheckpointError(`${entry.file}: ${entry.name} is ${dtype}, which is not read as floats`);
  return dtype;
}

/** Bytes of one row (the last dimension) of a tensor as stored. */
export function rowBytes(entry: TensorEntry): number {
  return ggmlBytes(elementType(entry), entry.shape[entry.shape.length - 1]);
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
  else if (dtype === "F16" || dtype === "BF16") widenToF32(raw, dtype, out);
  else throw new CheckpointError(`${dtype} data is not read as floats`);
}

/** Reads one tensor as float32, whatever its stored float or ggml type. */
export function readTensorF32(entry: TensorEntry): Float32Array {
  const out = new Float32Array(entry.shape.reduce((product, dim) => product * dim, 1));
  decodeF32(elementType(entry), readStored(entry), out);
  return out;
}
