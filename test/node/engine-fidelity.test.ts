import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { logSumExp, topK } from "../../backend/sampler/logits.ts";
import { argmax } from "../../backend/sampler/sampler.ts";
import { loadTestEngine, maxDifference, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases, referenceFloats } from "./support/fixture.ts";

useTempCache();
let engine: OnnxEngine;
beforeAll(async () => {
  engine = await loadTestEngine({ model: fixture, threads: 2, kvCacheSequences: 4, contextLength: 128 });
});
afterAll(() => engine.close());

describe.each(referenceCases.map((c, i) => [i, c] as const))("fixture case %i", (_, reference) => {
  const vocab = 32000;
  const tokens = reference.input_ids.length;

  it("matches transformers at every position: argmax, logsumexp, last logits, final hidden, router top-2", async () => {
    const [evaluation] = await engine.evaluate([reference.input_ids]);
    const rows = Array.from({ length: tokens }, (_, t) => evaluation.logits.subarray(t * vocab, (t + 1) * vocab));
    expect(rows.map(argmax)).toEqual(reference.argmax);
    expect(maxDifference(rows.map(logSumExp), reference.logsumexp)).toBeLessThan(1e-3);
    expect(maxDifference(rows[tokens - 1], referenceFloats(reference.last_logits_f32_b64))).toBeLessThan(1e-3);

    const hidden = 64;
    const last = evaluation.hidden.subarray((tokens - 1) * hidden);
    const mean = new Float32Array(hidden).map((_, i) => {
      let sum = 0;
      for (let t = 0; t < tokens; t++) sum += evaluation.hidden[t * hidden + i];
      return sum / tokens;
    });
    expect(maxDifference(last, referenceFloats(reference.final_hidden_last_f32_b64))).toBeLessThan(1e-3);
    expect(maxDifference(mean, referenceFloats(reference.final_hidden_mean_f32_b64))).toBeLessThan(1e-3);

    evaluation.routerLogits.forEach((logits, layer) => {
      const chosen = Array.from({ length: tokens }, (_, t) =>
        topK(logits.subarray(t * 8, (t + 1) * 8), 2).sort((a, b) => a - b),
      );
      const expected = reference.router_topk_per_layer[layer].map((pair) => [...pair].sort((a, b) => a - b));
      expect(chosen).toEqual(expected);
    });
  });

  it("generates the 20 greedy tokens through the KV cache (prefill, then one token per step)", async () => {
    // Blocks in a scattered order, as the KV-cache manager hands them out after some churn.
    const blocks = reservedBlocks(engine.shape, 1).reverse();
    let [logits] = await engine.forward([{ blocks, past: 0, tokens: reference.input_ids }]);
    const generated: number[] = [];
    for (let step = 0; step < 20; step++) {
      generated.push(argmax(logits));
      if (step < 19) [logits] = await engine.forward([{ blocks, past: tokens + step, tokens: [generated[step]] }]);
    }
    expect(generated).toEqual(reference.greedy_new_ids);
  });
});
