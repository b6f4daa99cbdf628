export type Quantization = "int8" | "int4";
export const quantizationBits: Record<Quantization, 4 | 8> = { int4: 4, int8: 8 };
export const quantBlockSize = 32;

/** MatMulNBits' weight layout: packed codes [N, blocks, blob] and one scale per block. */
export interface QuantizedWeight {
  codes: Uint8Array;
  scales: Float32Array;
  blocks: number;
  blobBytes: number;
}

/**
 * Symmetric block quantisation of a [N, K] row-major weight (llama.cpp Q4_0/Q8_0 style: the
 * largest-magnitude value of a block maps to the most negative code, so the full code range is used).
 * Codes carry MatMulNBits' default zero point 2^(bits-1); 4-bit codes pack low nibble first.
 */
export function quantizeBlockwise(weight: Float32Array, n: number, k: number, bits: 4 | 8): QuantizedWeight {
  const blocks = Math.ceil(k / quantBlockSize);
  const blobBytes = (quantBlockSize * bits) / 8;
  const codes = new Uint8Array(n * blocks * blobBytes);
  const scales = new Float32Array(n * blocks);
  const zero = 1 << (bits - 1);
  const maxCode = (1 << bits) - 1;
  for (let row = 0; row < n; row++) {
    for (let block = 0; block < blocks; block++) {
      const start = row * k + block * quantBlockSize;
      const end = Math.min(start + quantBlockSize, row * k + k);
      let extreme = 0;
      for (let i = start; i < end; i++) if (Math.abs(weight[i]) > Math.abs(extreme)) extreme = weight[i];
      const scale = extreme / -zero;
      const inverse = scale === 0 ? 0 : 1 / scale;
      scales[row * blocks + block] = scale;
      const blob = (row * blocks + block) * blobBytes;
      for (let i = start; i < end; i++) {
        const code = Math.min(maxCode, Math.max(0, Math.round(weight[i] * inverse) + zero));
        const j = i - start;
        if (bits === 8) codes[blob + j] = code;
        else codes[blob + (j >> 1)] |= j & 1 ? code << 4 : code;
      }
      if (bits === 4) for (let j = end - start; j < quantBlockSize; j++) codes[blob + (j >> 1)] |= j & 1 ? zero << 4 : zero;
      else for (let j = end - start; j < quantBlockSize; j++) codes[blob + j] = zero;
    }
  }
  return { codes, scales, blocks, blobBytes };
}
