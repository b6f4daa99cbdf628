import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphContext } from "./graph-context.ts";
import { graphIo } from "./graph-io.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";

export interface KeysValues {
  keys: Tensor;
  values: Tensor;
}

/** A layer's pools as graph inputs: [chunks, kvHeads, chunkBlocks, blockSize, headDim] in the cache's dtype (kv-pool.ts). */
function poolInput(g: GraphBuilder, ctx: GraphContext, name: string): Tensor {
  return g.input(name, ctx.kvCacheDtype, poolDims(ctx));
}

const poolDims = (ctx: GraphContext) => [
  "poolChunks",
  ctx.config.kvHeads,
  "chunkBlocks",
  "blockSize",
  ctx.config.headDim,
];

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
    g.node("ScatterND", [pool, ctx.step.slotIndices!, updates], {}, { outputs: [written] });
    g.output(written, ctx.kvCacheDtype, poolDims(ctx));
    return halfCache ? g.cast(stored, "float32") : x;
  };
  return {
    keys: store(made.keys, graphIo.newKey(layer), graphIo.keyCache(layer), graphIo.keyCacheWritten(layer)),
    values: store(made.values, graphIo.newValue(layer), graphIo.valueCache(layer), graphIo.valueCacheWritten(layer)),
  };
}

/**
 * GatherND and ScatterND indices that pick `blocks` (int64 [n]) for every head of a pool
 * [chunks, kvHeads, chunkBlocks, blockSize, headDim]: [kvHeads, n, 3], each a (chunk, head, block
 * in chunk). `chunkBlocks`: the pool's third dimension, int64 [1].
 */
export function poolBlockIndices(g: GraphBuilder, kvHeads: number, chunkBlocks: Tensor, blocks: Tensor): Tensor {
  const shape = g.op("Concat", [g.ints([kvHeads]), g.op("Shape", [blocks]), g.ints([1])], { axis: 0 });
  const spread = (x: Tensor): Tensor => g.op("Expand", [g.op("Unsqueeze", [x, g.ints([-1])]), shape]);
  const heads = g.constant(
    "int64",
    [kvHeads, 1, 1],
    Array.from({ length: kvHeads }, (_, h) => h),
  );
  return g.op(
    "Concat",
    [
      spread(g.op("Div", [blocks, chunkBlocks])),
      g.op("Expand", [heads, shape]),
      spread(g.op("Mod", [blocks, chunkBlocks])),
    ],
    { axis: -1 },
  );
}

/** ScatterND indices of every head of each new token: `slots` [T, 2] (block, offset) become [kvHeads, T, 4]. */
export function poolSlotIndices(g: GraphBuilder, kvHeads: number, chunkBlocks: Tensor, slots: Tensor): Tensor {
  const [blocks, offsets] = g.node("Split", [slots], { axis: 1, num_outputs: 2 }, { outputs: 2 });
  const blockIndices = poolBlockIndices(g, kvHeads, chunkBlocks, g.op("Squeeze", [blocks, g.ints([1])]));
  const shape = g.op("Concat", [g.ints([kvHeads]), g.op("Shape", [offsets])], { axis: 0 });
  return g.op("Concat", [blockIndices, g.op("Expand", [offsets, shape])], { axis: -1 });
}

/**
 * The layer's cached keys and values as float32 [kvHeads, B, P, headDim], gathered from its block
 * pools by block table inside the graph (no copy in JS).
 */
export function cachedKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number): KeysValues {
  const { kvHeads, headDim } = ctx.config;
  const cached = (pool: Tensor): Tensor => {
    const rows = g.op("Reshape", [
      pool,
      g.op("Concat", [g.ints([-1]), ctx.step.blockSize, g.ints([headDim])], { axis: 0 }),
    ]);
    const blocks = g.op("Gather", [rows, ctx.step.blockRows]); // [kvHeads, B, blocks, blockSize, headDim]
    const float32 = ctx.kvCacheDtype === "float16" ? g.cast(blocks, "float32") : blocks;
    return g.op("Reshape", [float32, g.ints([kvHeads, 0, -1, headDim])]);
  };
  return {
    keys: cached(poolInput(g, ctx, graphIo.keyCache(layer))),
    values: cached(poolInput(g, ctx, graphIo.valueCache(layer))),
  };
}

/**
 * A window of the layer's pools as [chunks, kvHeads, chunkBlocks · blockSize, headDim], attended
 * where it lies: a float32 pool (readsPoolInPlace), fed as a view of its memory or of its device
 * buffer, so nothing is copied. A step that gathers feeds no positions, or on a device one masked
 * block (kv-pool.ts: windowDims).
 */
export function poolKeysValues(g: GraphBuilder, ctx: GraphContext, layer: number): KeysValues {
  const dims = ["windowChunks", ctx.config.kvHeads, "chunkPositions", ctx.config.headDim];
  return {
    keys: g.input(graphIo.keyPool(layer), "float32", dims),
    values: g.input(graphIo.valuePool(layer), "float32", dims),
  };
}
