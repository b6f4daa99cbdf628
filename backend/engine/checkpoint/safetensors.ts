import { readSync } from "node:fs";
import { open } from "node:fs/promises";
import { CheckpointError } from "./config.ts";
import type { GgmlQuantType } from "./gguf/ggml-types.ts";
import type { PackedDtype, PackedLinear } from "./gptq-awq.ts";

export const tensorDtypes = ["F32", "F16", "BF16"] as const;
export type TensorDtype = (typeof tensorDtypes)[number];
/** What a safetensors file may hold: float tensors, and the int32 parts of GPTQ and AWQ Linears. */
export const storedDtypes = [...tensorDtypes, "I32"] as const;
export type StoredDtype = (typeof storedDtypes)[number];
export const bytesPerElement: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4 };

/**
 * Where one tensor's bytes live on disk: a safetensors tensor, a GGUF tensor of any type moxie
 * reads, or a GPTQ/AWQ Linear standing for its parts (`packed`).
 */
export interface TensorEntry {
  name: string;
  file: string;
  dtype: StoredDtype | GgmlQuantType | PackedDtype;
  /** As Hugging Face orders it: [rows, cols] for a matrix. */
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
  /**
   * GGUF's attn_q and attn_k rows are interleaved within each head for llama.cpp's rotary layout;
   * the number of heads to undo it over when reading (see tensor-data.ts).
   */
  permutedHeads?: number;
  /** A GPTQ or AWQ Linear: where its qweight, qzeros, scales and g_idx are (gptq-awq.ts). */
  packed?: PackedLinear;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Reads a .safetensors header (8-byte little-endian length, then JSON) without touching the data. */
export async function readSafetensorsHeader(file: string): Promise<TensorEntry[]> {
  const handle = await open(file, "r");
  try {
    const lengthBytes = Buffer.alloc(8);
    await handle.read(lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    const { size } = await handle.stat();
    if (headerLength <= 0 || headerLength + 8 > size)
      throw new CheckpointError(`${file}: not a safetensors file (bad header length)`);
    const headerBytes = Buffer.alloc(headerLength);
    await handle.read(headerBytes, 0, headerLength, 8);
    const header = JSON.parse(headerBytes.toString("utf8")) as Record<string, HeaderEntry>;
    const dataStart = 8 + headerLength;
    return Object.entries(header)
      .filter(([name]) => name !== "__metadata__")
      .map(([name, entry]) => {
        if (!storedDtypes.includes(entry.dtype as StoredDtype)) {
          throw new CheckpointError(
            `${file}: tensor ${name} has unsupported dtype ${entry.dtype} (F32, F16, BF16; I32 for GPTQ/AWQ parts)`,
          );
        }
        const dtype = entry.dtype as StoredDtype;
        const [begin, end] = entry.data_offsets;
        const elements = entry.shape.reduce((a, b) => a * b, 1);
        if (end - begin !== elements * bytesPerElement[dtype] || dataStart + end > size) {
          throw new CheckpointError(`${file}: tensor ${name} has inconsistent data offsets`);
        }
        return { name, file, dtype, shape: entry.shape, offset: dataStart + begin, byteLength: end - begin };
      });
  } finally {
    await handle.close();
  }
}

const f16Table = (() => {
  // Every half-precision bit pattern decoded once; conversion is then a table lookup.
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    table[bits] =
      exponent === 0
        ? sign * 2 ** -14 * (mantissa / 1024)
        : exponent === 31
          ? mantissa
            ? NaN
            : sign * Infinity
          : sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return table;
})();

/** A half-precision bit pattern's value. */
export function f16ToF32(bits: number): number {
  return f16Table[bits];
}

/** Fills `target` from an open file at `position`, failing on a short file rather than returning zeros. */
export function readFully(fd: number, target: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const read = readSync(fd, target, done, target.byteLength - done, position + done);
    if (read === 0) throw new CheckpointError(`truncated while reading ${what}`);
    done += read;
  }
}

/** Widens stored half-precision elements (F16 or BF16) into `out`. */
export function widenToF32(raw: Uint8Array, dtype: "F16" | "BF16", out: Float32Array): void {
  const halves = new Uint16Array(raw.buffer, raw.byteOffset, out.length);
  if (dtype === "BF16") {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < out.length; i++) words[i] = halves[i] << 16;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = f16Table[halves[i]];
  }
}
