import type { ModelConfig } from "../checkpoint/config.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

/** HF's RoPE tables, computed in float32 like transformers does (inv_freq, then position × inv_freq). */
function ropeTables(config: ModelConfig): { cos: Float32Array; sin: Float32Array; half: number } {
  const half = config.headDim / 2;
  const cos = new Float32Array(config.maxPositions * half);
  const sin = new Float32Array(config.maxPositions * half);
  const inverse = Array.from({ length: half }, (_, i) =>
    Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / config.headDim))),
  );
  for (let position = 0; position < config.maxPositions; position++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(position * inverse[i]);
      cos[position * half + i] = Math.cos(angle);
      sin[position * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, half };
}

/** What rotating needs, made once for all layers. */
export interface Rope {
  cos: Tensor; // float [maxPositions, headDim / 2]
  sin: Tensor;
  positionIds: Tensor; // int64 [1, T]
  headDim: number;
}

export function ropeInputs(g: GraphBuilder, config: ModelConfig, positions: Tensor): Rope {
  const tables = ropeTables(config);
  const cos = g.weight("rope.cos", "float32", [config.maxPositions, tables.half], tables.cos);
  const sin = g.weight("rope.sin", "float32", [config.maxPositions, tables.half], tables.sin);
  const positionIds = g.op("Unsqueeze", [positions, g.ints([0])]);
  return { cos, sin, positionIds, headDim: config.headDim };
}

/** HF rotate_half RoPE on [T, n·headDim] → [T, n, headDim], as one contrib node (the step's tokens as one batch row at their own positions). */
export function rotate(g: GraphBuilder, rope: Rope, x: Tensor, n: number): Tensor {
  const rotated = g.op(
    "RotaryEmbedding",
    [g.op("Unsqueeze", [x, g.ints([0])]), rope.positionIds, rope.cos, rope.sin],
    { interleaved: 0, num_heads: n },
    "com.microsoft",
  );
  return g.op("Reshape", [rotated, g.ints([-1, n, rope.headDim])]);
}
