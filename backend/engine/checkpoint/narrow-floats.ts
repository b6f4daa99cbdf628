/** float32 values as the bits of the 16-bit floats checkpoints and graphs store. */

/** float32 → bfloat16 bits, rounding to nearest even like torch's .to(torch.bfloat16). */
export function toBf16(values: Float32Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const word = words[i];
    out[i] = (word + 0x7fff + ((word >>> 16) & 1)) >>> 16;
  }
  return out;
}

function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  return x - Math.floor(x) === 0.5 && rounded % 2 === 1 ? rounded - 1 : rounded;
}

/** float32 → IEEE half bits, round to nearest even (subnormals included). */
export function toF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const word = words[i];
    const sign = (word >>> 16) & 0x8000;
    const exponent = ((word >>> 23) & 0xff) - 127 + 15;
    const mantissa = word & 0x7fffff;
    if (exponent >= 31) out[i] = sign | 0x7c00 | (((word >>> 23) & 0xff) === 0xff && mantissa ? 0x200 : 0);
    else if (exponent <= 0) out[i] = sign | roundHalfEven(Math.abs(values[i]) * 2 ** 24);
    else {
      let half = sign | (exponent << 10) | (mantissa >>> 13);
      const rest = mantissa & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
      out[i] = half;
    }
  }
  return out;
}
