import { tensorNames } from "../checkpoint/tensor-names.ts";
import type { GraphContext } from "./graph-context.ts";
import { cachedKeysValues, newKeyValueNames, poolKeysValues, storeNewKeysValues, type KeysValues } from "./kv-cache.ts";
import type { GraphBuilder, Tensor } from "./onnx-builder.ts";
import { rotate } from "./rope.ts";
import { padded, readsPoolInPlace } from "./step-inputs.ts";

/**
 * Grouped-query attention of the step's tokens x [T, hidden] over [cached ‖ new] keys. The cached
 * keys and values are gathered from the layer's block pools by block table inside the graph (no
 * copy in JS), or, on a float32 pool, read where they lie (on a device but for each row's first
 * block): inPlaceWindow decides per step. The new ones come from this step.
 */
export function attention(g: GraphBuilder, ctx: GraphContext, x: Tensor, layer: number): Tensor {
  const { heads, kvHeads, headDim } = ctx.config;
  const group = heads / kvHeads;
  const { queries, keys, values } = newHeads(g, ctx, x, layer); // [T, heads | kvHeads, headDim]

  // Each kv head's query heads stacked as rows: [kvHeads, B, group · L, headDim].
  const scaled = g.op("Mul", [queries, g.scalar(1 / Math.sqrt(headDim))]);
  const groupedQueries = g.op("Reshape", [
    g.op("Transpose", [padded(g, ctx.step, scaled, [kvHeads, group, headDim])], { perm: [2, 0, 3, 1, 4] }),
    g.ints([kvHeads, 0, -1, headDim]),
  ]);
  const byKvHead = (y: Tensor): Tensor =>
    g.op("Transpose", [padded(g, ctx.step, y, [kvHeads, headDim])], { perm: [2, 0, 1, 3] }); // [kvHeads, B, L, headDim]
  const current = { keys: byKvHead(keys), values: byKvHead(values) };
  const pool = readsPoolInPlace(ctx.kvCacheDtype) ? poolKeysValues(g, ctx, layer) : undefined;
  const context = attend(g, ctx, groupedQueries, cachedKeysValues(g, ctx, layer), current, pool); // [kvHeads, B, group · L, headDim]

  const perToken = g.op("Transpose", [g.op("Reshape", [context, g.ints([kvHeads, 0, group, -1, headDim])])], {
    perm: [1, 3, 0, 2, 4],
  }); // [B, L, kvHeads, group, headDim]
  const flat = g.op("Gather", [g.op("Reshape", [perToken, g.ints([-1, heads * headDim])]), ctx.step.unpadIndex]); // [T, heads · headDim]
  const names = tensorNames.layer(layer);
  const { weights } = ctx;
  return weights.linear(g, flat, `${names.prefix}.self_attn.o_proj`, [names.output], weights.precision.projections); // [T, hidden]
}

/**
 * The step's rotated queries [T, heads, headDim], and its rotated keys and values [T, kvHeads,
 * headDim] after storing them as the graph's outputs for the pool (storeNewKeysValues).
 */
function newHeads(g: GraphBuilder, ctx: GraphContext, x: Tensor, layer: number): { queries: Tensor } & KeysValues {
  const { heads, kvHeads, headDim } = ctx.config;
  const outputNames = newKeyValueNames(ctx, layer);
  const qkv = queryKeyValue(g, ctx, x, layer); // [T, (heads + 2 kvHeads) · headDim]
  const [queriesKeys, values] = g.node(
    "Split",
    [qkv, g.ints([(heads + kvHeads) * headDim, kvHeads * headDim])],
    { axis: -1 },
    { outputs: 2 },
  );
  // Queries and keys rotate together: one RoPE node over the q|k heads.
  const [queries, keys] = g.node(
    "Split",
    [rotate(g, ctx.rope, queriesKeys, heads + kvHeads), g.ints([heads, kvHeads])],
    { axis: 1 },
    { outputs: [`${tensorNames.layer(layer).prefix}.rotated_queries`, outputNames.key] },
  );
  const reshapedValues = g.node(
    "Reshape",
    [values, g.ints([-1, kvHeads, headDim])],
    {},
    { outputs: [outputNames.value] },
  )[0];
  return { queries, ...storeNewKeysValues(g, ctx, layer, { keys, values: reshapedValues }) };
}

/**
 * q|k|v of one layer in one projection when they share a precision. Under int4 the keys and values
 * keep 8 bits (PrecisionPolicy): one more projection and a Concat.
 */
function queryKeyValue(g: GraphBuilder, ctx: GraphContext, x: Tensor, layer: number): Tensor {
  const names = tensorNames.layer(layer);
  const prefix = `${names.prefix}.self_attn`;
  const { weights } = ctx;
  const { projections, keysValues } = weights.precision;
  if (projections === keysValues)
    return weights.linear(g, x, `${prefix}.qkv`, [names.query, names.key, names.value], projections);
  const queries = weights.linear(g, x, `${prefix}.q`, [names.query], projections);
  const kv = weights.linear(g, x, `${prefix}.kv`, [names.key, names.value], keysValues);
  return g.op("Concat", [queries, kv], { axis: -1 });
}

/** One part of the keys a step attends to: its scores [kvHeads, B, group · L, ·], and its values weighted by their probabilities. */
interface KeyPart {
  scores: Tensor;
  context(probabilities: Tensor): Tensor; // [kvHeads, B, group · L, headDim]
}

/**
 * softmax(q·kᵀ + bias)·v over the gathered, the current and (where given) the pool window's keys.
 * Scores against each part are concatenated for one softmax, so no keys are ever concatenated.
 */
function attend(
  g: GraphBuilder,
  ctx: GraphContext,
  queries: Tensor,
  cached: KeysValues,
  current: KeysValues,
  pool?: KeysValues,
): Tensor {
  const { heads, kvHeads } = ctx.config;
  const group = heads / kvHeads;
  const { bias, dimL, dimKeys, keyParts } = ctx.step;
  const byRow = ({ keys, values }: KeysValues): KeyPart => ({
    scores: g.op("MatMul", [queries, transposedLast(g, keys)]),
    context: (probabilities) => g.op("MatMul", [probabilities, values]),
  });
  const parts = [byRow(cached), byRow(current), ...(pool ? [inWindow(g, ctx, queries, pool)] : [])];
  const scores = g.op(
    "Concat",
    parts.map((part) => part.scores),
    { axis: -1 },
  ); // [kvHeads, B, group · L, K]
  const biased = g.op("Add", [
    g.op("Reshape", [scores, g.op("Concat", [g.ints([kvHeads, 0, group]), dimL, g.ints([-1])], { axis: 0 })]),
    bias,
  ]);
  const probabilities = g.op("Reshape", [
    g.op("Softmax", [biased], { axis: -1 }),
    g.op("Concat", [g.ints([kvHeads, 0, -1]), dimKeys], { axis: 0 }),
  ]);
  const perPart = g.node("Split", [probabilities, keyParts], { axis: -1 }, { outputs: parts.length });
  return perPart.map((part, i) => parts[i].context(part)).reduce((sum, product) => g.op("Add", [sum, product])); // [kvHeads, B, group · L, headDim]
}

const transposedLast = (g: GraphBuilder, x: Tensor): Tensor => g.op("Transpose", [x], { perm: [0, 1, 3, 2] });

/**
 * The pool window [chunks, kvHeads, chunk positions, headDim] read where it lies, for every row at
 * once: all rows' queries are stacked as one matrix per kv head, so each product reads the window
 * once, chunk by chunk (a chunk's positions follow its blocks' order), and the values' product is
 * summed over chunks.
 */
function inWindow(g: GraphBuilder, ctx: GraphContext, queries: Tensor, { keys, values }: KeysValues): KeyPart {
  const { kvHeads, headDim } = ctx.config;
  const rowsGroupsQueries = g.dims(queries, 0, 3); // kvHeads, B, group · L
  const stacked = g.op("Reshape", [queries, g.ints([1, kvHeads, -1, headDim])]); // [1, kvHeads, B · group · L, headDim]
  const [chunks, positions, stackedQueries] = [g.dims(keys, 0), g.dims(keys, 2), g.dims(stacked, 2)];
  // The scores to [kvHeads · B · group · L, chunks, positions]: a transpose that moves one axis
  // whole rows of positions at a time (ORT's general transpose is several times slower).
  const byChunk = g.op(
    "Reshape",
    [
      g.op("MatMul", [stacked, transposedLast(g, keys)]), // [chunks, kvHeads, B · group · L, positions]
      g.op("Concat", [chunks, g.op("Mul", [g.ints([kvHeads]), stackedQueries]), positions], { axis: 0 }),
    ],
    { allowzero: 1 },
  );
  const scores = g.op("Transpose", [byChunk], { perm: [1, 0, 2] });
  return {
    scores: g.op("Reshape", [scores, g.op("Concat", [rowsGroupsQueries, g.ints([-1])], { axis: 0 })]),
    context: (probabilities) => {
      const perChunk = g.op("Reshape", [
        probabilities,
        g.op("Concat", [g.ints([kvHeads]), stackedQueries, chunks, positions], { axis: 0 }),
      ]); // [kvHeads, B · group · L, chunks, positions]
      const weighted = g.op("MatMul", [g.op("Transpose", [perChunk], { perm: [2, 0, 1, 3] }), values]); // [chunks, kvHeads, B · group · L, headDim]
      return g.op("Reshape", [
        g.op("ReduceSum", [weighted, g.ints([0])], { keepdims: 0 }),
        g.op("Concat", [rowsGroupsQueries, g.ints([-1])], { axis: 0 }),
      ]);
    },
  };
}
