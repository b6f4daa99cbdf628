import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphContext } from "./graph-context.ts";
import { graphIo } from "./graph-io.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

export interface KeysValues {
  keys: Tensor;
  values: Tensor;
}

/** A layer's pools as graph inputs: [kvHeads, poolBlocks, blockSize, headDim] in the cache's dtype. */
function poolInput(g: GraphBuilder, ctx: GraphContext, name: string): Tensor {
  return g.input(name, ctx.kvCacheDtype, poolDims(ctx));
}

const poolDims = (ctx: GraphContext) => [ctx.config.kvHeads, "poolBlocks", "blockSize", ctx.config.headDim];

/**
 * The names the step's new keys and values take where they are made: the graph's outputs when a
 * host pool stores them in float32; otherwise intermediates that storeNewKeysValues stores.
 */
export function newKeyValueNames(ctx: GraphContext, layer: number): { key: string; value: string } {
  const { prefix } = tensorNames.layer(layer);
  return ctx.kvCacheDtype === "float16" || ctx.kvPool === "device"
    ? { key: `${prefix}.rotated_keys`, value: `${prefix}.new_values` }
    : { key: graphIo.newKey(layer), value: graphIo.newValue(layer) };
}

/**
 * Stores the step's new keys and values [T, kvHeads, headDim] and returns what this step's
 * attention reads. A host pool: they become graph outputs that JS writes into the pool. A device
 * pool: a ScatterND writes them at their kv_slots, its output bound to the pool's own buffer, so
 * the write happens in place (the kernel copies nothing when its input and output are one buffer).
 * A float16 cache: cast to float16 to be stored, and back in float32 for this step's attention, so
 * a position reads the same rounded values in the step that computes it as in every later step.
 */
export function storeNewKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number, made: KeysValues): KeysValues {
  const { kvHeads, headDim } = ctx.config;
  const halfCache = ctx.kvCacheDtype === "float16";
  const store = (x: Tensor, output: string, pool: string, written: string): Tensor => {
    if (ctx.kvPool === "host") {
      g.output(output, ctx.kvCacheDtype, ["T", kvHeads, headDim]);
      return halfCache ? g.cast(g.cast(x, "float16", output), "float32") : x;
    }
    const stored = halfCache ? g.cast(x, "float16") : x;
    const updates = g.op("Transpose", [stored], { perm: [1, 0, 2] }); // [kvHeads, T, headDim]
    g.node("ScatterND", [pool, ctx.step.headSlots!, updates], {}, { outputs: [written] });
    g.output(written, ctx.kvCacheDtype, poolDims(ctx));
    return halfCache ? g.cast(stored, "float32") : x;
  };
  return {
    keys: store(made.keys, graphIo.newKey(layer), graphIo.keyCache(layer), graphIo.keyCacheWritten(layer)),
    values: store(made.values, graphIo.newValue(layer), graphIo.valueCache(layer), graphIo.valueCacheWritten(layer)),
  };
}

/**
 * ScatterND indices into a pool [kvHeads, blocks, …] for every head: `indices` [n, width] (block,
 * or block and offset) become [kvHeads, n, 1 + width], each row prefixed with its head.
 */
export function perHeadIndices(g: GraphBuilder, kvHeads: number, indices: Tensor, width: number): Tensor {
  const rows = g.op("Slice", [g.op("Shape", [indices]), g.ints([0]), g.ints([1])]);
  const shape = (last: number): Tensor => g.op("Concat", [g.ints([kvHeads]), rows, g.ints([last])], { axis: 0 });
  const heads = g.constant(
    "int64",
    [kvHeads, 1, 1],
    Array.from({ length: kvHeads }, (_, h) => h),
  );
  const repeated = g.op("Expand", [g.op("Unsqueeze", [indices, g.ints([0])]), shape(width)]);
  return g.op("Concat", [g.op("Expand", [heads, shape(1)]), repeated], { axis: -1 });
}

/**
 * The layer's cached keys and values as float32 [kvHeads, B, P, headDim], gathered from its block
 * pools by block table inside the graph (no copy in JS).
 */
export function cachedKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number): KeysValues {
  const { kvHeads, headDim } = ctx.config;
  const cached = (pool: Tensor): Tensor => {
    const blocks = g.op("Gather", [pool, ctx.step.blockTables], { axis: 1 });
    const float32 = ctx.kvCacheDtype === "float16" ? g.cast(blocks, "float32") : blocks;
    return g.op("Reshape", [float32, g.ints([kvHeads, 0, -1, headDim])]);
  };
  return {
    keys: cached(poolInput(g, ctx, graphIo.keyCache(layer))),
    values: cached(poolInput(g, ctx, graphIo.valueCache(layer))),
  };
}

/**
 * The layer's whole pools as [kvHeads, 1, N, headDim], attended where they lie: a host float32 pool
 * (readsPoolInPlace), fed as a view of its memory, so nothing is copied. A step that gathers feeds N = 0.
 */
export function poolKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number): KeysValues {
  const dims = [ctx.config.kvHeads, 1, "poolPositions", ctx.config.headDim];
  return {
    keys: g.input(graphIo.keyPool(layer), "float32", dims),
    values: g.input(graphIo.valuePool(layer), "float32", dims),
  };
}
