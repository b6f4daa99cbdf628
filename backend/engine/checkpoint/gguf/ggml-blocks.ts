import { f16ToF32 } from "../safetensors.ts";
import { ggmlTypes, type GgmlQuantType } from "./ggml-types.ts";

/**
 * ggml's quantised blocks decoded into what every use needs: per sub-block a scale `s`, an offset
 * `c` and integer codes `q`, with value = s·q + c. Q4_0: one sub-block of 32, s = d, q = nibble − 8,
 * c = 0; Q4_K: eight sub-blocks of 32, s = d·scale, q = nibble, c = −dmin·min; Q6_K: sixteen of 16,
 * s = d·scale, q = 6 bits − 32. Dequantisation (s·q + c) and the exact MatMulNBits encoding both
 * read blocks through this, so the two cannot disagree. Layouts as in ggml-quants.c.
 */
export interface DecodedBlock {
  /** Elements per sub-block: 32, or 16 for Q6_K. */
  sub: number;
  scales: Float32Array;
  offsets: Float32Array;
  /** The block's elements as integers, in element order. */
  codes: Int16Array;
}

/** Sub-block length of each type: the unit of one scale. */
export const subBlock: Record<GgmlQuantType, number> = {
  Q4_0: 32,
  Q4_1: 32,
  Q5_0: 32,
  Q5_1: 32,
  Q8_0: 32,
  Q4_K: 32,
  Q5_K: 32,
  Q6_K: 16,
};

/** A reusable decoder for one type: decode(raw, at) fills `block` from the bytes of one block at `at`. */
export function blockDecoder(type: GgmlQuantType): {
  block: DecodedBlock;
  decode: (raw: Uint8Array, at: number) => void;
} {
  const elements = ggmlTypes[type].block;
  const sub = subBlock[type];
  const block: DecodedBlock = {
    sub,
    scales: new Float32Array(elements / sub),
    offsets: new Float32Array(elements / sub),
    codes: new Int16Array(elements),
  };
  return { block, decode: (raw, at) => decoders[type](raw, at, block) };
}

const half = (raw: Uint8Array, at: number) => f16ToF32(raw[at] | (raw[at + 1] << 8));
const u32 = (raw: Uint8Array, at: number) =>
  (raw[at] | (raw[at + 1] << 8) | (raw[at + 2] << 16) | (raw[at + 3] << 24)) >>> 0;

/** Q4_0/Q4_1: qs[16] holds element j in its low nibble and element j + 16 in its high one. */
function nibbles(raw: Uint8Array, at: number, codes: Int16Array, minus: number): void {
  for (let j = 0; j < 16; j++) {
    codes[j] = (raw[at + j] & 15) - minus;
    codes[j + 16] = (raw[at + j] >> 4) - minus;
  }
}

/** Q5_0/Q5_1: nibbles as above, the fifth bit of element j in bit j of qh. */
function fiveBits(raw: Uint8Array, qhAt: number, qsAt: number, codes: Int16Array, minus: number): void {
  const qh = u32(raw, qhAt);
  for (let j = 0; j < 16; j++) {
    codes[j] = ((raw[qsAt + j] & 15) | (((qh >>> j) & 1) << 4)) - minus;
    codes[j + 16] = ((raw[qsAt + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - minus;
  }
}

/** The 6-bit scale and min of sub-block j of a K-quant's 12 packed bytes (get_scale_min_k4). */
function scaleMin(raw: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [raw[at + j] & 63, raw[at + j + 4] & 63];
  return [(raw[at + j + 4] & 15) | ((raw[at + j - 4] >> 6) << 4), (raw[at + j + 4] >> 4) | ((raw[at + j] >> 6) << 4)];
}

/** Q4_K/Q5_K's eight scales and offsets: d·scale and −dmin·min. */
function kScales(raw: Uint8Array, at: number, block: DecodedBlock): void {
  const d = half(raw, at);
  const dmin = half(raw, at + 2);
  for (let j = 0; j < 8; j++) {
    const [scale, min] = scaleMin(raw, at + 4, j);
    block.scales[j] = d * scale;
    block.offsets[j] = -dmin * min;
  }
}

const decoders: Record<GgmlQuantType, (raw: Uint8Array, at: number, block: DecodedBlock) => void> = {
  Q4_0(raw, at, block) {
    block.scales[0] = half(raw, at);
    block.offsets[0] = 0;
    nibbles(raw, at + 2, block.codes, 8);
  },
  Q4_1(raw, at, block) {
    block.scales[0] = half(raw, at);
    block.offsets[0] = half(raw, at + 2);
    nibbles(raw, at + 4, block.codes, 0);
  },
  Q5_0(raw, at, block) {
    block.scales[0] = half(raw, at);
    block.offsets[0] = 0;
    fiveBits(raw, at + 2, at + 6, block.codes, 16);
  },
  Q5_1(raw, at, block) {
    block.scales[0] = half(raw, at);
    block.offsets[0] = half(raw, at + 2);
    fiveBits(raw, at + 4, at + 8, block.codes, 0);
  },
  Q8_0(raw, at, block) {
    block.scales[0] = half(raw, at);
    block.offsets[0] = 0;
    for (let j = 0; j < 32; j++) block.codes[j] = (raw[at + 2 + j] << 24) >> 24;
  },
  Q4_K(raw, at, block) {
    kScales(raw, at, block);
    // 4 groups of 64: 32 bytes hold sub-block 2g in their low nibbles, 2g + 1 in their high ones.
    const qs = at + 16;
    for (let g = 0; g < 4; g++)
      for (let l = 0; l < 32; l++) {
        const byte = raw[qs + 32 * g + l];
        block.codes[64 * g + l] = byte & 15;
        block.codes[64 * g + 32 + l] = byte >> 4;
      }
  },
  Q5_K(raw, at, block) {
    kScales(raw, at, block);
    const qh = at + 16;
    const qs = at + 48;
    for (let g = 0; g < 4; g++)
      for (let l = 0; l < 32; l++) {
        const byte = raw[qs + 32 * g + l];
        const high = raw[qh + l];
        block.codes[64 * g + l] = (byte & 15) | (((high >> (2 * g)) & 1) << 4);
        block.codes[64 * g + 32 + l] = (byte >> 4) | (((high >> (2 * g + 1)) & 1) << 4);
      }
  },
  Q6_K(raw, at, block) {
    // ql[128], qh[64], scales int8[16], d.
    const ql = at;
    const qh = at + 128;
    const sc = at + 192;
    const d = half(raw, at + 208);
    for (let j = 0; j < 16; j++) {
      block.scales[j] = d * ((raw[sc + j] << 24) >> 24);
      block.offsets[j] = 0;
    }
    for (let half128 = 0; half128 < 2; half128++) {
      const l0 = ql + 64 * half128;
      const h0 = qh + 32 * half128;
      const y = 128 * half128;
      for (let l = 0; l < 32; l++) {
        const high = raw[h0 + l];
        block.codes[y + l] = ((raw[l0 + l] & 15) | ((high & 3) << 4)) - 32;
        block.codes[y + l + 32] = ((raw[l0 + l + 32] & 15) | (((high >> 2) & 3) << 4)) - 32;
        block.codes[y + l + 64] = ((raw[l0 + l] >> 4) | (((high >> 4) & 3) << 4)) - 32;
        block.codes[y + l + 96] = ((raw[l0 + l + 32] >> 4) | (((high >> 6) & 3) << 4)) - 32;
      }
    }
  },
};

/** Dequantises whole blocks of `raw` (from byte `at`) into `out`, as ggml does: s·q + c per element. */
export function dequantize(type: GgmlQuantType, raw: Uint8Array, at: number, out: Float32Array): void {
  const { block: elements, bytes } = ggmlTypes[type];
  const { block, decode } = blockDecoder(type);
  for (let b = 0; b < out.length / elements; b++) {
    decode(raw, at + b * bytes);
    for (let i = 0; i < elements; i++) {
      const j = (i / block.sub) | 0;
      out[b * elements + i] = block.scales[j] * block.codes[i] + block.offsets[j];
    }
  }
}
