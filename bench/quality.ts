import { logSumExp } from "../backend/sampler/logits.ts";

/** How far quantised logits are from the reference: top-1 agreement and mean KL(reference ‖ candidate) per position. */
export function compareLogits(
  reference: Float32Array,
  candidate: Float32Array,
  vocab: number,
): { top1Agreement: number; meanKl: number } {
  const positions = reference.length / vocab;
  let agree = 0;
  let kl = 0;
  for (let t = 0; t < positions; t++) {
    const p = logSoftmax(reference.subarray(t * vocab, (t + 1) * vocab));
    const q = logSoftmax(candidate.subarray(t * vocab, (t + 1) * vocab));
    let bestP = 0;
    let bestQ = 0;
    for (let i = 0; i < vocab; i++) {
      kl += Math.exp(p[i]) * (p[i] - q[i]);
      if (p[i] > p[bestP]) bestP = i;
      if (q[i] > q[bestQ]) bestQ = i;
    }
    if (bestP === bestQ) agree++;
  }
  return { top1Agreement: agree / positions, meanKl: kl / positions };
}

function logSoftmax(values: Float32Array): Float64Array {
  const shift = logSumExp(values);
  return Float64Array.from(values, (value) => value - shift);
}
