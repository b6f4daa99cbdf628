import type { QuantGroupSize, Quantization } from "../../options.ts";

export const quantizationBits: Record<Quantization, 4 | 8> = { int4: 4, int8: 8 };
/**
 * The group size when none is asked for. int4: 128, which (with the keys and values at 8 bits)
 * reads Q4_0's bytes per weight and scores a lower KL than llama.cpp's Q4_0 on the same text
 * (bench/RESULTS.md). int8: 32, Q8_0's block.
 */
export const quantGroupSizeFor = (quantize: Quantization, asked?: QuantGroupSize): QuantGroupSize =>
  asked ?? (quantize === "int4" ? 128 : 32);

/** MatMulNBits' weight layout: packed codes [N, blocks, blob] and one scale per block. */
export interface QuantizedWeight {
  codes: Uint8Array;
  scales: Float32Array;
  blocks: number;
  blobBytes: number;
}

/**
 * The scale of one block: llama.cpp's Q4_0/Q8_0 choice (the largest-magnitude value maps to the
 * most negative code, so the whole code range is used), and for 4 bits also a few narrower
 * ranges, each refitted by least squares for its codes (like llama.cpp's make_qx_quants),
 * keeping the one with the smallest squared error. 8 bits has steps fine enough not to need it.
 */
function blockScale(weight: Float32Array, start: number, end: number, bits: 4 | 8): number {
  const zero = 1 << (bits - 1);
  let extreme = 0;
  for (let i = start; i < end; i++) if (Math.abs(weight[i]) > Math.abs(extreme)) extreme = weight[i];
  if (extreme === 0 || bits === 8) return extreme / -zero;
  let best = extreme / -zero;
  let bestError = Infinity;
  for (const divisor of [-8, -7.75, -7.5, -7.25, -7, -6.75, -6.5, 7]) {
    const inverse = divisor / extreme;
    let xq = 0;
    let qq = 0;
    for (let i = start; i < end; i++) {
      const q = Math.min(zero - 1, Math.max(-zero, Math.round(weight[i] * inverse)));
      xq += weight[i] * q;
      qq += q * q;
    }
    const scale = xq / qq;
    let error = 0;
    for (let i = start; i < end; i++) {
      const q = Math.min(zero - 1, Math.max(-zero, Math.round(weight[i] / scale)));
      error += (weight[i] - scale * q) ** 2;
    }
    if (error < bestError) [best, bestError] = [scale, error];
  }
  return best;
}

/**
 * Symmetric block quantisation of a [N, K] row-major weight into MatMulNBits' layout. Codes carry
 * MatMulNBits' default zero point 2^(bits-1); 4-bit codes pack low nibble first.
 */
export function quantizeBlockwise(
  weight: Float32Array,
  n: number,
  k: number,
  bits: 4 | 8,
  groupSize: QuantGroupSize = 32,
): QuantizedWeight {
  const blocks = Math.ceil(k / groupSize);
  const blobBytes = (groupSize * bits) / 8;
  const codes = new Uint8Array(n * blocks * blobBytes);
  const scales = new Float32Array(n * blocks);
  const zero = 1 << (bits - 1);
  const maxCode = (1 << bits) - 1;
  for (let row = 0; row < n; row++) {
    for (let block = 0; block < blocks; block++) {
      const start = row * k + block * groupSize;
      const end = Math.min(start + groupSize, row * k + k);
      const scale = blockScale(weight, start, end, bits);
      const inverse = scale === 0 ? 0 : 1 / scale;
      scales[row * blocks + block] = scale;
      const blob = (row * blocks + block) * blobBytes;
      for (let i = start; i < end; i++) {
        const code = Math.min(maxCode, Math.max(0, Math.round(weight[i] * inverse) + zero));
        const j = i - start;
        if (bits === 8) codes[blob + j] = code;
        else codes[blob + (j >> 1)] |= j & 1 ? code << 4 : code;
      }
      if (bits === 4) for (let j = end - start; j < groupSize; j++) codes[blob + (j >> 1)] |= j & 1 ? zero << 4 : zero;
      else for (let j = end - start; j < groupSize; j++) codes[blob + j] = zero;
    }
  }
  return { codes, scales, blocks, blobBytes };
}
