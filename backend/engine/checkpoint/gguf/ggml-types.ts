/**
 * The ggml tensor types moxie reads from GGUF files: each stores `block` elements in `bytes` bytes.
 * Ids are ggml's (ggml.h). The other quantisations (Q2_K, Q3_K, the IQ types) are named in errors.
 */
export const ggmlTypes = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q4_1: { id: 3, block: 32, bytes: 20 },
  Q5_0: { id: 6, block: 32, bytes: 22 },
  Q5_1: { id: 7, block: 32, bytes: 24 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q5_K: { id: 13, block: 256, bytes: 176 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  BF16: { id: 30, block: 1, bytes: 2 },
} as const;
export type GgmlType = keyof typeof ggmlTypes;
export type GgmlQuantType = Exclude<GgmlType, "F32" | "F16" | "BF16">;

/** ggml's names of the types moxie does not read, for the error that names one. */
const unreadTypes: Record<number, string> = {
  9: "Q8_1",
  10: "Q2_K",
  11: "Q3_K",
  15: "Q8_K",
  16: "IQ2_XXS",
  17: "IQ2_XS",
  18: "IQ3_XXS",
  19: "IQ1_S",
  20: "IQ4_NL",
  21: "IQ3_S",
  22: "IQ2_S",
  23: "IQ4_XS",
  29: "IQ1_M",
  34: "TQ1_0",
  35: "TQ2_0",
  39: "MXFP4",
};

const byId = new Map<number, GgmlType>(Object.entries(ggmlTypes).map(([name, type]) => [type.id, name as GgmlType]));

/** The type of a ggml id, or a description of why it cannot be read. */
export function ggmlTypeOf(id: number): GgmlType | { unsupported: string } {
  return byId.get(id) ?? { unsupported: unreadTypes[id] ?? `unknown type id ${id}` };
}

export function isQuantized(type: string): type is GgmlQuantType {
  return type in ggmlTypes && ggmlTypes[type as GgmlType].block > 1;
}

/** Bytes of `elements` elements (a whole number of blocks) of a type. */
export function ggmlBytes(type: GgmlType, elements: number): number {
  const { block, bytes } = ggmlTypes[type];
  return (elements / block) * bytes;
}
