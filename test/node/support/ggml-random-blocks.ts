import { ggmlTypes, type GgmlQuantType } from "../../../backend/engine/checkpoint/gguf/ggml-types.ts";

/** Where each type keeps its float16 fields (scales, mins): the rest of a block is any bytes at all. */
const halfFields: Record<GgmlQuantType, number[]> = {
  Q4_0: [0],
  Q4_1: [0, 2],
  Q5_0: [0],
  Q5_1: [0, 2],
  Q8_0: [0],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
};

/**
 * `blocks` blocks of a type, from a seed: random bytes, with every float16 field a finite value
 * between 2^-6 and 2 in magnitude (random bytes could make NaN or infinity, which no quantiser
 * writes). Every code, nibble, high bit and packed 6-bit scale takes arbitrary values, so the
 * decoders are exercised beyond what a quantiser happens to produce.
 */
export function randomBlocks(type: GgmlQuantType, blocks: number, seed: number): Uint8Array {
  const { bytes } = ggmlTypes[type];
  const data = new Uint8Array(blocks * bytes);
  let state = seed >>> 0 || 1;
  const next = () => {
    // xorshift32: deterministic across machines.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  for (let i = 0; i < data.length; i++) data[i] = next() & 255;
  for (let b = 0; b < blocks; b++)
    for (const field of halfFields[type]) {
      const sign = next() & 1;
      const exponent = 9 + (next() % 7); // 2^-6 … 2^0
      const half = (sign << 15) | (exponent << 10) | (next() & 1023);
      data[b * bytes + field] = half & 255;
      data[b * bytes + field + 1] = half >> 8;
    }
  return data;
}
