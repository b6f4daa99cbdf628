import { writeFile } from "node:fs/promises";
import { ggmlTypes, type GgmlType } from "../../../backend/engine/checkpoint/gguf/ggml-types.ts";

/** GGUF's metadata value types (gguf_type), by the names gguf-py gives them. */
const valueTypes = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
type ScalarType = keyof typeof valueTypes;
const ARRAY = 9;

/** A scalar type, or an array of one ("float32[]"). */
export type GgufMetadataType = ScalarType | `${ScalarType}[]`;
export type GgufMetadataValue = number | bigint | string | boolean | readonly (number | bigint | string | boolean)[];

export interface GgufTensorSpec {
  name: string;
  /** A type moxie reads, or any ggml type id (to write one it refuses). */
  type: GgmlType | number;
  /** ggml's order: dims[0] is the row length. */
  dims: readonly number[];
  /** Written as given, unchecked against type and dims, so a test can write a wrong size on purpose. */
  data: Uint8Array;
}

export interface GgufSpec {
  metadata: readonly (readonly [key: string, type: GgufMetadataType, value: GgufMetadataValue])[];
  tensors?: readonly GgufTensorSpec[];
}

/**
 * Writes a GGUF v3 file: the metadata in the order given, then the tensor table, then each
 * tensor's bytes at the next multiple of the alignment (32, or `general.alignment` when the
 * metadata sets it), as llama.cpp's gguf writer lays them out.
 */
export async function writeGguf(path: string, spec: GgufSpec): Promise<void> {
  const tensors = spec.tensors ?? [];
  const alignment = Number(spec.metadata.find(([key]) => key === "general.alignment")?.[2] ?? 32);
  const header = new ByteWriter();
  header.u32(0x46554747); // "GGUF"
  header.u32(3);
  header.u64(tensors.length);
  header.u64(spec.metadata.length);
  for (const [key, type, value] of spec.metadata) {
    header.string(key);
    if (type.endsWith("[]")) {
      const itemType = type.slice(0, -2) as ScalarType;
      const items = value as readonly GgufMetadataValue[];
      header.u32(ARRAY);
      header.u32(valueTypes[itemType]);
      header.u64(items.length);
      for (const item of items) header.value(itemType, item);
    } else {
      header.u32(valueTypes[type as ScalarType]);
      header.value(type as ScalarType, value);
    }
  }
  let offset = 0;
  const offsets = tensors.map((tensor) => {
    const at = offset;
    offset = align(at + tensor.data.length, alignment);
    return at;
  });
  tensors.forEach((tensor, index) => {
    header.string(tensor.name);
    header.u32(tensor.dims.length);
    for (const dim of tensor.dims) header.u64(dim);
    header.u32(typeof tensor.type === "number" ? tensor.type : ggmlTypes[tensor.type].id);
    header.u64(offsets[index]);
  });
  const dataStart = align(header.length, alignment);
  const file = new Uint8Array(dataStart + offset);
  file.set(header.bytes());
  tensors.forEach((tensor, index) => file.set(tensor.data, dataStart + offsets[index]));
  await writeFile(path, file);
}

function align(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}

/** Little-endian bytes, appended. */
class ByteWriter {
  private readonly chunks: Buffer[] = [];
  length = 0;

  private push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  private fixed(bytes: number, write: (buffer: Buffer) => void) {
    const buffer = Buffer.alloc(bytes);
    write(buffer);
    this.push(buffer);
  }

  u32(value: number) {
    this.fixed(4, (buffer) => buffer.writeUInt32LE(value));
  }

  u64(value: number | bigint) {
    this.fixed(8, (buffer) => buffer.writeBigUInt64LE(BigInt(value)));
  }

  string(value: string) {
    const bytes = Buffer.from(value, "utf8");
    this.u64(bytes.length);
    this.push(bytes);
  }

  value(type: ScalarType, value: GgufMetadataValue) {
    const number = () => Number(value);
    switch (type) {
      case "uint8":
        return this.fixed(1, (buffer) => buffer.writeUInt8(number()));
      case "int8":
        return this.fixed(1, (buffer) => buffer.writeInt8(number()));
      case "uint16":
        return this.fixed(2, (buffer) => buffer.writeUInt16LE(number()));
      case "int16":
        return this.fixed(2, (buffer) => buffer.writeInt16LE(number()));
      case "uint32":
        return this.fixed(4, (buffer) => buffer.writeUInt32LE(number()));
      case "int32":
        return this.fixed(4, (buffer) => buffer.writeInt32LE(number()));
      case "float32":
        return this.fixed(4, (buffer) => buffer.writeFloatLE(number()));
      case "bool":
        return this.fixed(1, (buffer) => buffer.writeUInt8(value ? 1 : 0));
      case "string":
        return this.string(String(value));
      case "uint64":
        return this.fixed(8, (buffer) => buffer.writeBigUInt64LE(BigInt(value as number | bigint)));
      case "int64":
        return this.fixed(8, (buffer) => buffer.writeBigInt64LE(BigInt(value as number | bigint)));
      case "float64":
        return this.fixed(8, (buffer) => buffer.writeDoubleLE(number()));
    }
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
