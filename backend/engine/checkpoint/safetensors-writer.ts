import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { toBf16, toF16 } from "./narrow-floats.ts";
import { bytesPerElement, type StoredDtype, type TensorDtype } from "./safetensors.ts";

export interface TensorSpec {
  name: string;
  shape: number[];
  /** This tensor's dtype where it is not the file's (GPTQ/AWQ's int32 parts beside f16 tensors). */
  dtype?: StoredDtype;
}

function encode(values: Float32Array | Int32Array, dtype: StoredDtype): Uint8Array {
  if ((dtype === "I32") !== values instanceof Int32Array)
    throw new Error(`${dtype} tensors are written from ${dtype === "I32" ? "an Int32Array" : "a Float32Array"}`);
  const data =
    values instanceof Int32Array || dtype === "F32" ? values : dtype === "BF16" ? toBf16(values) : toF16(values);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Writes tensors into `shards` safetensors files (one file is named model.safetensors, several get
 * model-0000N-of-0000M.safetensors plus model.safetensors.index.json), producing each tensor's
 * values only when its turn comes, so a checkpoint never sits in memory whole.
 */
export function writeSafetensors(
  dir: string,
  specs: TensorSpec[],
  values: (spec: TensorSpec) => Float32Array | Int32Array,
  dtype: TensorDtype,
  shards = 1,
): void {
  const dtypeOf = (spec: TensorSpec) => spec.dtype ?? dtype;
  const size = (spec: TensorSpec) => spec.shape.reduce((a, b) => a * b, 1) * bytesPerElement[dtypeOf(spec)];
  const totalBytes = specs.reduce((sum, spec) => sum + size(spec), 0);
  const groups: TensorSpec[][] = Array.from({ length: shards }, () => []);
  let running = 0;
  for (const spec of specs) {
    groups[Math.min(shards - 1, Math.floor((running * shards) / totalBytes))].push(spec);
    running += size(spec);
  }
  const names = groups.map((_, i) =>
    shards === 1
      ? "model.safetensors"
      : `model-${String(i + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`,
  );
  const weightMap: Record<string, string> = {};
  groups.forEach((group, i) => {
    let offset = 0;
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    for (const spec of group) {
      header[spec.name] = { dtype: dtypeOf(spec), shape: spec.shape, data_offsets: [offset, offset + size(spec)] };
      offset += size(spec);
      weightMap[spec.name] = names[i];
    }
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (json.length % 8)) % 8); // the format pads the header so data starts 8-byte aligned
    const fd = openSync(join(dir, names[i]), "w");
    try {
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, length);
      writeSync(fd, json);
      for (const spec of group) {
        const bytes = encode(values(spec), dtypeOf(spec));
        let written = 0;
        while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      }
    } finally {
      closeSync(fd);
    }
  });
  if (shards > 1) {
    const index = { metadata: { total_size: totalBytes }, weight_map: weightMap };
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify(index, null, 2));
  }
}
