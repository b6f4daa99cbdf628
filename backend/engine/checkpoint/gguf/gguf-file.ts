import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { CheckpointError } from "../config.ts";
import { ggmlBytes, ggmlTypeOf, ggmlTypes, type GgmlType } from "./ggml-types.ts";

/** A metadata value as GGUF stores it: numbers (64-bit integers as bigint past 2^53), strings, booleans, arrays. */
export type GgufValue = number | bigint | string | boolean | GgufValue[];

/** One tensor of a GGUF file: ggml's dims (innermost first) and where its bytes lie in the file. */
export interface GgufTensor {
  name: string;
  type: GgmlType;
  /** ne[0] is the row length (columns); a [rows, cols] matrix has dims [cols, rows]. */
  dims: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  file: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensor>;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;
/** The most a header may claim for one string (a chat template, a token) or the count of one array. */
const MAX_STRING_BYTES = 16 * 1024 * 1024;
const MAX_DIMS = 4;

/**
 * Reads a GGUF file's header: version, metadata and tensor table, from the file by pieces (the
 * tensor data is never read here). Every count and length is checked against what is left of the
 * file before anything is allocated for it, so a truncated or hostile header fails with a
 * CheckpointError naming the problem, never a crash or a huge allocation.
 */
export function readGguf(file: string): GgufFile {
  const fd = openSync(file, "r");
  try {
    return new HeaderReader(file, fd).read();
  } finally {
    closeSync(fd);
  }
}

class HeaderReader {
  private buffer = Buffer.alloc(0);
  /** File offset of buffer[0], and the read position within the file. */
  private bufferStart = 0;
  private position = 0;
  private readonly size: number;

  constructor(
    private readonly file: string,
    private readonly fd: number,
  ) {
    this.size = fstatSync(fd).size;
  }

  read(): GgufFile {
    if (this.size < 24 || this.u32("the magic number") !== MAGIC)
      throw this.error("not a GGUF file (it does not start with 'GGUF')");
    const version = this.u32("the version");
    if (version !== 2 && version !== 3) throw this.error(`GGUF version ${version} is not supported (2 or 3)`);
    const tensorCount = this.count("the tensor count", 8);
    const metadataCount = this.count("the metadata count", 8);
    const metadata = new Map<string, GgufValue>();
    for (let index = 0; index < metadataCount; index++) {
      const key = this.string("a metadata key");
      metadata.set(key, this.value(this.u32(`the type of ${key}`), key));
    }
    const infos: { name: string; type: GgmlType; dims: number[]; relative: number }[] = [];
    for (let index = 0; index < tensorCount; index++) infos.push(this.tensorInfo());
    const alignment = Number(metadata.get("general.alignment") ?? DEFAULT_ALIGNMENT);
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0)
      throw this.error(`general.alignment ${alignment} is not a positive multiple of 8`);
    const dataStart = Math.ceil(this.position / alignment) * alignment;
    const tensors = new Map<string, GgufTensor>();
    for (const { name, type, dims, relative } of infos) {
      const elements = dims.reduce((product, dim) => product * dim, 1);
      if (dims[0] % ggmlTypes[type].block !== 0)
        throw this.error(
          `tensor ${name}: its rows (${dims[0]}) are not whole ${type} blocks of ${ggmlTypes[type].block}`,
        );
      const byteLength = ggmlBytes(type, elements);
      const offset = dataStart + relative;
      if (!Number.isSafeInteger(offset + byteLength) || offset + byteLength > this.size)
        throw this.error(
          `tensor ${name} claims ${byteLength} bytes at ${offset}, past the end of the file (${this.size} bytes): truncated or corrupt`,
        );
      if (tensors.has(name)) throw this.error(`tensor ${name} appears twice`);
      tensors.set(name, { name, type, dims, offset, byteLength });
    }
    return { file: this.file, version, metadata, tensors };
  }

  private tensorInfo() {
    const name = this.string("a tensor name");
    const rank = this.u32(`the rank of ${name}`);
    if (rank < 1 || rank > MAX_DIMS) throw this.error(`tensor ${name} has ${rank} dimensions (1 to ${MAX_DIMS})`);
    const dims = Array.from({ length: rank }, () => narrow(this.take(8, `a dimension of ${name}`).readBigUInt64LE(0)));
    const elements = dims.reduce<number>((product, dim) => product * Number(dim), 1);
    if (dims.some((dim) => typeof dim !== "number" || dim === 0) || !Number.isSafeInteger(elements))
      throw this.error(`tensor ${name} has impossible dimensions [${dims.join(", ")}]`);
    const typeId = this.u32(`the type of ${name}`);
    const type = ggmlTypeOf(typeId);
    if (typeof type === "object")
      throw this.error(
        `tensor ${name} is ${type.unsupported}, which moxie does not read (it reads ${Object.keys(ggmlTypes).join(", ")})`,
      );
    const relative = this.count(`the offset of ${name}`, 1);
    return { name, type, dims: dims as number[], relative };
  }

  private value(type: number, key: string): GgufValue {
    switch (type) {
      case 0:
        return this.take(1, key).readUInt8(0);
      case 1:
        return this.take(1, key).readInt8(0);
      case 2:
        return this.take(2, key).readUInt16LE(0);
      case 3:
        return this.take(2, key).readInt16LE(0);
      case 4:
        return this.take(4, key).readUInt32LE(0);
      case 5:
        return this.take(4, key).readInt32LE(0);
      case 6:
        return this.take(4, key).readFloatLE(0);
      case 7:
        return this.take(1, key).readUInt8(0) !== 0;
      case 8:
        return this.string(key);
      case 9: {
        const itemType = this.u32(`the item type of ${key}`);
        if (itemType === 9) throw this.error(`${key}: arrays of arrays are not supported`);
        const length = this.count(`the length of ${key}`, 1);
        return Array.from({ length }, () => this.value(itemType, key));
      }
      case 10:
        return narrow(this.take(8, key).readBigUInt64LE(0));
      case 11:
        return narrow(this.take(8, key).readBigInt64LE(0));
      case 12:
        return this.take(8, key).readDoubleLE(0);
      default:
        throw this.error(`${key} has an unknown value type ${type}`);
    }
  }

  private u32(what: string): number {
    return this.take(4, what).readUInt32LE(0);
  }

  /** A 64-bit count of things at least `itemBytes` each, checked against the bytes left. */
  private count(what: string, itemBytes: number): number {
    const value = this.take(8, what).readBigUInt64LE(0);
    if (value * BigInt(itemBytes) > BigInt(this.size - this.position))
      throw this.error(`${what} (${value}) is more than the rest of the file could hold: truncated or corrupt`);
    return Number(value);
  }

  private string(what: string): string {
    const length = this.count(`the length of ${what}`, 1);
    if (length > MAX_STRING_BYTES) throw this.error(`${what} is ${length} bytes long (at most ${MAX_STRING_BYTES})`);
    return this.take(length, what).toString("utf8");
  }

  /** The next `bytes` bytes of the header, read from the file as needed. */
  private take(bytes: number, what: string): Buffer {
    if (this.position + bytes > this.size)
      throw this.error(`the file ends (at ${this.size} bytes) while reading ${what}: truncated`);
    const end = this.position + bytes;
    if (end > this.bufferStart + this.buffer.length) {
      const length = Math.max(bytes, 1 << 20);
      const chunk = Buffer.alloc(Math.min(length, this.size - this.position));
      let done = 0;
      while (done < chunk.length) {
        const read = readSync(this.fd, chunk, done, chunk.length - done, this.position + done);
        if (read === 0) throw this.error(`the file ends while reading ${what}: truncated`);
        done += read;
      }
      this.buffer = chunk;
      this.bufferStart = this.position;
    }
    const slice = this.buffer.subarray(this.position - this.bufferStart, end - this.bufferStart);
    this.position = end;
    return slice;
  }

  private error(message: string): CheckpointError {
    return new CheckpointError(`${this.file}: ${message}`);
  }
}

function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}
