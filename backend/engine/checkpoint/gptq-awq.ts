import { CheckpointError, type Packing } from "./config.ts";
import type { TensorEntry } from "./safetensors.ts";
import { readStored } from "./tensor-data.ts";

/** The dtype of an entry standing for a whole GPTQ or AWQ Linear. */
export const packedDtypes = { gptq: "GPTQ", awq: "AWQ" } as const;
export type PackedDtype = (typeof packedDtypes)[keyof typeof packedDtypes];

/** A quantised Linear's parts as the checkpoint stores them. */
export interface PackedLinear {
  packing: Packing;
  qweight: TensorEntry;
  qzeros: TensorEntry;
  scales: TensorEntry;
  /** GPTQ's group of each input channel; null when absent (channel k is in group k / group size). */
  gIdx: TensorEntry | null;
}

const floatDtypes: readonly string[] = ["F16", "BF16", "F32"];

/**
 * Replaces each quantised Linear's parts (`<prefix>.qweight`, `.qzeros`, `.scales` and GPTQ's
 * `.g_idx`) by one entry under `<prefix>.weight`, shaped as the float weight [N, K] would be, so
 * the rest of the engine names and checks it as any weight. The parts' shapes, K input channels
 * and N outputs, G per group (AutoGPTQ's QuantLinear and AutoAWQ's WQLinear_GEMM buffers):
 *   GPTQ: qweight [K/8, N], qzeros [K/G, N/8], scales [K/G, N], g_idx [K]
 *   AWQ:  qweight [K, N/8], qzeros [K/G, N/8], scales [K/G, N]
 * Linears left in float (the embedding, lm_head, Mixtral's router) keep their `.weight`.
 */
export function assemblePackedLinears(tensors: Map<string, TensorEntry>, packing: Packing | undefined, dir: string) {
  for (const name of [...tensors.keys()]) {
    if (!name.endsWith(".qweight")) continue;
    if (!packing)
      throw new CheckpointError(`${dir}: ${name} is a GPTQ/AWQ tensor, but config.json has no quantization_config`);
    const linear = packedLinear(tensors, name.slice(0, -".qweight".length), packing, dir);
    tensors.set(linear.name, linear);
  }
  for (const entry of tensors.values())
    if (entry.dtype === "I32")
      throw new CheckpointError(
        `${dir}: ${entry.name} is I32, which moxie reads only as a GPTQ/AWQ Linear's qweight, qzeros or g_idx`,
      );
}

/** One Linear's entry, its parts checked against each other and taken out of `tensors`. */
function packedLinear(tensors: Map<string, TensorEntry>, prefix: string, packing: Packing, dir: string): TensorEntry {
  const name = `${prefix}.weight`;
  if (tensors.has(name)) throw new CheckpointError(`${dir}: ${prefix} has both a float weight and a qweight`);
  const part = (suffix: string, dtypes: readonly string[]): TensorEntry => {
    const entry = tensors.get(`${prefix}.${suffix}`);
    if (!entry) throw new CheckpointError(`${dir}: ${prefix}.qweight has no ${prefix}.${suffix}`);
    if (!dtypes.includes(entry.dtype) || entry.shape.length > 2)
      throw new CheckpointError(
        `${dir}: ${entry.name} is ${entry.dtype} [${entry.shape.join(",")}], expected ${dtypes.join(" or ")}`,
      );
    tensors.delete(entry.name);
    return entry;
  };
  const gptq = packing.method === "gptq";
  const qweight = part("qweight", ["I32"]);
  const qzeros = part("qzeros", ["I32"]);
  const scales = part("scales", floatDtypes);
  // Without act-order a GPTQ g_idx is optional (AutoGPTQ writes k / G); AWQ has none.
  const gIdx = gptq && (packing.descAct || tensors.has(`${prefix}.g_idx`)) ? part("g_idx", ["I32"]) : null;
  const [rows, cols] = qweight.shape;
  const [k, n] = gptq ? [rows * 8, cols] : [rows, cols * 8];
  const groups = k / packing.groupSize;
  if (!Number.isInteger(groups))
    throw new CheckpointError(`${dir}: ${prefix} has ${k} inputs, not whole groups of ${packing.groupSize}`);
  const expected: [TensorEntry, number[]][] = [
    [qzeros, [groups, n / 8]],
    [scales, [groups, n]],
  ];
  if (gIdx) expected.push([gIdx, [k]]);
  for (const [entry, shape] of expected)
    if (entry.shape.join(",") !== shape.join(","))
      throw new CheckpointError(
        `${dir}: ${entry.name} has shape [${entry.shape.join(",")}], expected [${shape.join(",")}] from ${qweight.name}`,
      );
  const parts = [qweight, qzeros, scales, ...(gIdx ? [gIdx] : [])];
  return {
    name,
    file: qweight.file,
    dtype: packedDtypes[packing.method],
    shape: [n, k],
    offset: qweight.offset,
    byteLength: parts.reduce((sum, entry) => sum + entry.byteLength, 0),
    packed: { packing, qweight, qzeros, scales, gIdx },
  };
}

/** An int32 tensor's values (little-endian on disk, as on every host ONNX Runtime runs on). */
export function readInt32(entry: TensorEntry): Int32Array {
  const raw = readStored(entry);
  return new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
}
