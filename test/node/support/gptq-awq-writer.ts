import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { f16ToF32 } from "../../../backend/engine/checkpoint/safetensors.ts";
import { toF16 } from "../../../backend/engine/checkpoint/narrow-floats.ts";
import { writeSafetensors, type TensorSpec } from "../../../backend/engine/checkpoint/safetensors-writer.ts";

/**
 * A 4-bit Linear as GPTQ and AWQ both describe it, before packing:
 * W[o, i] = scales[g][o] · (codes[o][i] − zeros[g][o]) with g = groupOf[i].
 */
export interface QuantisedLinear {
  outputs: number;
  inputs: number;
  groupSize: number;
  /** [outputs, inputs], 0..15. */
  codes: Uint8Array;
  /** [inputs / groupSize, outputs], 0..15. */
  zeros: Uint8Array;
  /** [inputs / groupSize, outputs], values f16 holds exactly. */
  scales: Float32Array;
  /** [inputs]: each input channel's group. */
  groupOf: Int32Array;
}

export interface RandomLinearOptions {
  groupSize?: number;
  /** Inclusive range of the zero points. */
  zeros?: [number, number];
  /** Each input channel's group; default: channel i in group i / groupSize. */
  groupOf?: Int32Array;
}

/** A random QuantisedLinear whose weights have about the spread of a fresh model's (±0.03). */
export function randomLinear(
  random: () => number,
  outputs: number,
  inputs: number,
  options: RandomLinearOptions = {},
): QuantisedLinear {
  const groupSize = options.groupSize ?? 128;
  const [low, high] = options.zeros ?? [0, 15];
  const groups = inputs / groupSize;
  const integer = (from: number, to: number) => from + Math.floor(random() * (to - from + 1));
  const scales = new Float32Array(groups * outputs).map(() => (1 + random()) * 2 ** -9);
  return {
    outputs,
    inputs,
    groupSize,
    codes: new Uint8Array(outputs * inputs).map(() => integer(0, 15)),
    zeros: new Uint8Array(groups * outputs).map(() => integer(low, high)),
    scales: Float32Array.from(toF16(scales), f16ToF32),
    groupOf: options.groupOf ?? Int32Array.from({ length: inputs }, (_, i) => Math.floor(i / groupSize)),
  };
}

/** GPTQ's act-order: groups of consecutive channels in a random order of the channels (GPTQ's `g_idx[invperm]`). */
export function actOrderGroups(random: () => number, inputs: number, groupSize: number): Int32Array {
  const order = Int32Array.from({ length: inputs }, (_, i) => i);
  for (let i = inputs - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const groupOf = new Int32Array(inputs);
  order.forEach((channel, position) => (groupOf[channel] = Math.floor(position / groupSize)));
  return groupOf;
}

/** A Linear's tensors as a checkpoint stores them, by suffix (qweight, qzeros, scales, g_idx). */
export type PackedTensors = Record<string, { shape: number[]; values: Int32Array | Float32Array }>;

/**
 * As AutoGPTQ's QuantLinear.pack writes it: qweight [K/8, N] with input channel 8r + j at bits 4j
 * of row r; qzeros [K/G, N/8] likewise along N, holding zero − 1 in the v1 format ("gptq").
 */
export function packGptq(linear: QuantisedLinear, format: "gptq" | "gptq_v2", withGroups = true): PackedTensors {
  const { outputs: n, inputs: k, codes, zeros, scales, groupOf } = linear;
  const groups = k / linear.groupSize;
  const qweight = new Int32Array((k / 8) * n);
  for (let i = 0; i < k; i++)
    for (let o = 0; o < n; o++) qweight[(i >> 3) * n + o] |= codes[o * k + i] << (4 * (i % 8));
  const qzeros = new Int32Array(groups * (n / 8));
  const stored = format === "gptq" ? -1 : 0;
  for (let g = 0; g < groups; g++)
    for (let o = 0; o < n; o++) {
      const zero = zeros[g * n + o] + stored;
      if (zero < 0) throw new Error("the v1 format cannot store a zero point of 0");
      qzeros[g * (n / 8) + (o >> 3)] |= zero << (4 * (o % 8));
    }
  return {
    qweight: { shape: [k / 8, n], values: qweight },
    qzeros: { shape: [groups, n / 8], values: qzeros },
    scales: { shape: [groups, n], values: scales },
    ...(withGroups && { g_idx: { shape: [k], values: groupOf } }),
  };
}

/** As AutoAWQ's WQLinear_GEMM.from_linear writes it: along N, word w's nibble i holds output 8w + order_map[i]. */
export function packAwq(linear: QuantisedLinear): PackedTensors {
  const { outputs: n, inputs: k, codes, zeros, scales, groupOf } = linear;
  if (groupOf.some((group, i) => group !== Math.floor(i / linear.groupSize))) throw new Error("AWQ has no act-order");
  const orderMap = [0, 2, 4, 6, 1, 3, 5, 7];
  const groups = k / linear.groupSize;
  const pack = (rows: number, value: (row: number, output: number) => number) => {
    const words = new Int32Array(rows * (n / 8));
    for (let row = 0; row < rows; row++)
      for (let word = 0; word < n / 8; word++)
        for (let i = 0; i < 8; i++) words[row * (n / 8) + word] |= value(row, 8 * word + orderMap[i]) << (4 * i);
    return words;
  };
  return {
    qweight: { shape: [k, n / 8], values: pack(k, (i, o) => codes[o * k + i]) },
    qzeros: { shape: [groups, n / 8], values: pack(groups, (g, o) => zeros[g * n + o]) },
    scales: { shape: [groups, n], values: scales },
  };
}

/** Writes config.json and model.safetensors: float tensors as F16 (as GPTQ/AWQ files hold them), packed parts as I32. */
export function writeCheckpoint(
  dir: string,
  config: Record<string, unknown>,
  tensors: Map<string, { shape: number[]; values: Int32Array | Float32Array }>,
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, torch_dtype: "float16" }));
  const specs: TensorSpec[] = [...tensors].map(([name, { shape, values }]) => ({
    name,
    shape,
    dtype: values instanceof Int32Array ? "I32" : "F16",
  }));
  writeSafetensors(dir, specs, (spec) => tensors.get(spec.name)!.values, "F16");
}
