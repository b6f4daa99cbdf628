import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphContext } from "./graph-context.ts";
import { graphIo } from "./graph-io.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

export interface KeysValues {
  keys: Tensor;
  values: Tensor;
}

/**
 * The names the step's new keys and values take where they are made: the graph's outputs under a
 * float32 cache; under float16, intermediates that storeNewKeysValues casts into the outputs.
 */
export function newKeyValueNames(ctx: GraphContext, layer: number): { key: string; value: string } {
  const { prefix } = tensorNames.layer(layer);
  return ctx.kvCacheDtype === "float16"
    ? { key: `${prefix}.rotated_keys`, value: `${prefix}.new_values` }
    : { key: graphIo.newKey(layer), value: graphIo.newValue(layer) };
}

/**
 * Declares the step's new keys and values [T, kvHeads, headDim] as the outputs the pool stores, and
 * returns what this step's attention reads. A float16 cache: the outputs are cast to float16, and
 * back in float32 for this step's attention, so a position reads the same rounded values in the
 * step that computes it as in every later step (prefix-cached or not, the same outputs).
 */
export function storeNewKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number, made: KeysValues): KeysValues {
  const { kvHeads, headDim } = ctx.config;
  const stored = (x: Tensor, output: string): Tensor => g.cast(g.cast(x, "float16", output), "float32");
  const step =
    ctx.kvCacheDtype === "float16"
      ? { keys: stored(made.keys, graphIo.newKey(layer)), values: stored(made.values, graphIo.newValue(layer)) }
      : made;
  g.output(graphIo.newKey(layer), ctx.kvCacheDtype, ["T", kvHeads, headDim]);
  g.output(graphIo.newValue(layer), ctx.kvCacheDtype, ["T", kvHeads, headDim]);
  return step;
}

/**
 * The layer's cached keys and values as float32 [kvHeads, B, P, headDim], gathered from its block
 * pools by block table inside the graph (no copy in JS).
 */
export function cachedKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number): KeysValues {
  const { kvHeads, headDim } = ctx.config;
  const poolDims = [kvHeads, "poolBlocks", "blockSize", headDim];
  const cached = (pool: Tensor): Tensor => {
    const blocks = g.op("Gather", [pool, ctx.step.blockTables], { axis: 1 });
    const float32 = ctx.kvCacheDtype === "float16" ? g.cast(blocks, "float32") : blocks;
    return g.op("Reshape", [float32, g.ints([kvHeads, 0, -1, headDim])]);
  };
  return {
    keys: cached(g.input(graphIo.keyCache(layer), ctx.kvCacheDtype, poolDims)),
    values: cached(g.input(graphIo.valueCache(layer), ctx.kvCacheDtype, poolDims)),
  };
}
