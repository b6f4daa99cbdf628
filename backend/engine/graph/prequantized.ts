import { createHash } from "node:crypto";
import { CheckpointError } from "../checkpoint/config.ts";
import { readInt32 } from "../checkpoint/gptq-awq.ts";
import type { TensorEntry } from "../checkpoint/safetensors.ts";
import { readTensorF32 } from "../checkpoint/tensor-data.ts";

/**
 * GPTQ and AWQ Linears (several stacked by rows) in MatMulNBits' layout, holding exactly the
 * checkpoint's values. Both formats define W[n, k] = scale[g, n] · (q[k, n] − zero[g, n]) with
 * g the group of input channel k, 4-bit q and zero: MatMulNBits computes the same,
 * (code − zero point) · scale per block, with bits 4, block_size = the group size and uint8 zero
 * points packed two per byte, low nibble first.
 *
 * Where each fact comes from:
 * - GPTQ's qweight [K/8, N] packs 8 input channels per int32, channel 8i + j at bits 4j
 *   (AutoGPTQ qlinear_cuda_old.py QuantLinear.pack; vLLM gptq.py packed_dim 0). Its qzeros
 *   [K/G, N/8] pack outputs the same way along N.
 * - GPTQ's v1 format ("gptq") stores zero − 1, and readers add 1 to the masked nibble
 *   (QuantLinear.pack's `zeros -= 1`, forward's `zeros + 1`; vLLM's gptq_gemm adds
 *   `use_v2_format ? 0 : 1`); gptq_v2 (GPTQModel) stores the zero itself.
 * - GPTQ's g_idx [K] gives each input channel's group: W = scales[g_idx] · (q − zeros[g_idx])
 *   (AutoGPTQ's and vLLM's torch fallbacks). With act-order (desc_act) the groups are not
 *   contiguous; each group still holds G channels (GPTQ's `g_idx[invperm]`).
 * - AWQ's qweight [K, N/8] packs 8 outputs per int32 along N in the order [0, 2, 4, 6, 1, 3, 5, 7]:
 *   nibble i holds output 8w + order[i] (AutoAWQ gemm.py WQLinear_GEMM.from_linear's order_map),
 *   so output 8w + j is at nibble [0, 4, 1, 5, 2, 6, 3, 7][j] (AutoAWQ packing_utils.py
 *   AWQ_REVERSE_ORDER, vLLM awq_triton.py's shifts). Its qzeros [K/G, N/8] are packed the same
 *   way; W = (q − zero) · scale with group k / G (packing_utils.py dequantize_gemm).
 */
export interface PrequantizedWeight {
  block: number;
  blocks: number;
  blobBytes: number;
  /** [rows, blocks, blobBytes]: each row's codes in channelOrder's order of the input channels. */
  codes: Uint8Array;
  scales: Float32Array;
  /** [rows, ⌈blocks/2⌉], two per byte; null for GPTQ's sym, whose zero points are all 8, MatMulNBits' default. */
  zeroPoints: Uint8Array | null;
}

/** Input channels sorted by group, so each group is one MatMulNBits block; `key` tells equal orders apart. */
export interface ChannelOrder {
  channels: Int32Array;
  key: string;
}

/** AWQ's nibble of output j within a packed int32 (AWQ_REVERSE_ORDER); GPTQ's is j. */
const awqNibble = [0, 4, 1, 5, 2, 6, 3, 7];
const gptqNibble = [0, 1, 2, 3, 4, 5, 6, 7];

/** The layout a packed Linear is held in: parts with the same key stack into one MatMulNBits. Null for others. */
export function prequantizedLayoutKey(entry: TensorEntry): string | null {
  if (!entry.packed) return null;
  return `packed/${entry.packed.packing.groupSize}/${channelOrder(entry)?.key ?? "in order"}`;
}

/**
 * GPTQ's g_idx as the order that makes each group contiguous (a stable sort by group), or null
 * when the groups already are (no g_idx, or act-order with static groups). The codes hold the
 * input channels in this order, so the activations are gathered in it before the MatMulNBits.
 */
export function channelOrder(entry: TensorEntry): ChannelOrder | null {
  const { gIdx } = entry.packed!;
  if (!gIdx) return null;
  // Asked for by the layout runs and by each projection: g_idx is read once.
  let order = channelOrders.get(gIdx);
  if (order === undefined) channelOrders.set(gIdx, (order = readChannelOrder(entry)));
  return order;
}

const channelOrders = new WeakMap<TensorEntry, ChannelOrder | null>();

function readChannelOrder(entry: TensorEntry): ChannelOrder | null {
  const { packing, gIdx } = entry.packed!;
  if (!gIdx) return null;
  const groupOf = readInt32(gIdx);
  const size = packing.groupSize;
  const starts = new Int32Array(groupOf.length / size);
  for (const group of groupOf) {
    if (group < 0 || group >= starts.length)
      throw new CheckpointError(`${gIdx.name}: group ${group} does not exist (0..${starts.length - 1})`);
    starts[group]++;
  }
  starts.forEach((count, group) => {
    if (count !== size)
      throw new CheckpointError(`${gIdx.name}: group ${group} has ${count} input channels, not ${size}`);
    starts[group] = group * size;
  });
  const channels = new Int32Array(groupOf.length);
  groupOf.forEach((group, channel) => (channels[starts[group]++] = channel));
  if (channels.every((channel, position) => channel === position)) return null;
  // vLLM ignores g_idx without act-order, AutoGPTQ applies it: only files where both agree are exact.
  if (!packing.descAct) throw new CheckpointError(`${gIdx.name}: channels out of group order, but desc_act is false`);
  return { channels, key: createHash("sha256").update(channels).digest("hex").slice(0, 16) };
}

/** The parts (rows stacked in order, all of one layout key) as one MatMulNBits weight, codes in channelOrder's order. */
export function encodePrequantized(parts: TensorEntry[]): PrequantizedWeight {
  const k = parts[0].shape[1];
  const rows = parts.reduce((sum, part) => sum + part.shape[0], 0);
  const { groupSize: block, symmetric } = parts[0].packed!.packing;
  const blocks = k / block;
  const weight: PrequantizedWeight = {
    block,
    blocks,
    blobBytes: block / 2,
    codes: new Uint8Array((rows * k) / 2),
    scales: new Float32Array(rows * blocks),
    zeroPoints: symmetric ? null : new Uint8Array(rows * Math.ceil(blocks / 2)),
  };
  const order = channelOrder(parts[0]);
  let row = 0;
  for (const part of parts) {
    encodePart(part, weight, order, row);
    row += part.shape[0];
  }
  return weight;
}

/** Writes one part's rows from `firstRow` on. */
function encodePart(part: TensorEntry, weight: PrequantizedWeight, order: ChannelOrder | null, firstRow: number) {
  const { packing, qweight, qzeros, scales } = part.packed!;
  const [n, k] = part.shape;
  const codes = weight.codes.subarray((firstRow * k) / 2, ((firstRow + n) * k) / 2);
  if (packing.method === "gptq") gptqCodes(readInt32(qweight), n, k, codes);
  else awqCodes(readInt32(qweight), n, k, codes);
  if (order) reorder(codes, n, k, order.channels);

  const nibble = packing.method === "gptq" ? gptqNibble : awqNibble;
  const packedZeros = readInt32(qzeros);
  const groupScales = readTensorF32(scales);
  const zeroBytes = Math.ceil(weight.blocks / 2);
  const centre = 1 << (packing.bits - 1);
  for (let group = 0; group < weight.blocks; group++)
    for (let output = 0; output < n; output++) {
      const stored = (packedZeros[group * (n / 8) + (output >> 3)] >>> (4 * nibble[output & 7])) & 15;
      const zero = stored + packing.zeroOffset;
      if (zero > 15)
        throw new CheckpointError(
          `${qzeros.name}: output ${output}, group ${group} stores 15, a zero point of 16 (v1 format), which 4 bits cannot hold`,
        );
      if (packing.symmetric && zero !== centre)
        throw new CheckpointError(
          `${qzeros.name}: output ${output}, group ${group} has zero point ${zero}, but sym is true (${centre})`,
        );
      const row = firstRow + output;
      weight.scales[row * weight.blocks + group] = groupScales[group * n + output];
      if (weight.zeroPoints) weight.zeroPoints[row * zeroBytes + (group >> 1)] |= zero << (4 * (group & 1));
    }
}

/**
 * GPTQ's qweight [K/8, N] → codes [N, K/2]. An int32's 8 nibbles are 8 consecutive input channels,
 * low first, which is exactly 4 bytes of a MatMulNBits row: rows are moved as whole words.
 */
function gptqCodes(words: Int32Array, n: number, k: number, codes: Uint8Array): void {
  const out = new Int32Array(codes.buffer, codes.byteOffset, codes.byteLength / 4);
  const perRow = k / 8;
  for (let word = 0; word < perRow; word++)
    for (let output = 0; output < n; output++) out[output * perRow + word] = words[word * n + output];
}

/** AWQ's qweight [K, N/8] → codes [N, K/2]: two input channels' nibbles per byte. */
function awqCodes(words: Int32Array, n: number, k: number, codes: Uint8Array): void {
  const perInput = n / 8;
  const rowBytes = k / 2;
  for (let pair = 0; pair < rowBytes; pair++) {
    const even = 2 * pair * perInput;
    const odd = even + perInput;
    for (let word = 0; word < perInput; word++)
      for (let j = 0; j < 8; j++) {
        const shift = 4 * awqNibble[j];
        const low = (words[even + word] >>> shift) & 15;
        const high = (words[odd + word] >>> shift) & 15;
        codes[(8 * word + j) * rowBytes + pair] = low | (high << 4);
      }
  }
}

/** Each row's nibble at position p becomes the one of channel channels[p]. */
function reorder(codes: Uint8Array, n: number, k: number, channels: Int32Array): void {
  const rowBytes = k / 2;
  const source = new Uint8Array(rowBytes);
  const nibbleAt = (channel: number) => (source[channel >> 1] >> (4 * (channel & 1))) & 15;
  for (let output = 0; output < n; output++) {
    const row = codes.subarray(output * rowBytes, (output + 1) * rowBytes);
    source.set(row);
    for (let position = 0; position < k; position += 2)
      row[position >> 1] = nibbleAt(channels[position]) | (nibbleAt(channels[position + 1]) << 4);
  }
}
