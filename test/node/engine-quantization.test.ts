import { expect, it } from "vitest";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import { compareLogits } from "../../bench/quality.ts";
import { quantizeBlockwise } from "../../backend/engine/graph/quantize.ts";
import { loadTestEngine, useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

useTempCache();
const cases = referenceCases.map((c) => c.input_ids);

it("block quantisation round-trips within one quantisation step, at every group size", () => {
  const k = 256;
  const weight = Float32Array.from({ length: 2 * k }, (_, i) => Math.sin(i * 1.7) * (i % 7));
  for (const [bits, group] of [
    [4, 32],
    [8, 32],
    [4, 128],
    [8, 64],
  ] as const) {
    const q = quantizeBlockwise(weight, 2, k, bits, group);
    expect([q.blocks, q.blobBytes]).toEqual([k / group, (group * bits) / 8]);
    for (let i = 0; i < weight.length; i++) {
      const [row, column] = [Math.floor(i / k), i % k];
      const block = row * q.blocks + Math.floor(column / group);
      const byte = q.codes[block * q.blobBytes + (bits === 8 ? column % group : (column % group) >> 1)];
      const code = bits === 8 ? byte : column % 2 ? byte >> 4 : byte & 15;
      const decoded = (code - (1 << (bits - 1))) * q.scales[block];
      expect(Math.abs(decoded - weight[i])).toBeLessThanOrEqual(Math.abs(q.scales[block]) + 1e-6);
    }
  }
});

it("int8 and int4 engines stay close to fp32 on the fixture inputs, through evaluation and the KV cache", async () => {
  const reference = await loadTestEngine({ model: fixture, threads: 2, kvCacheSequences: 1, contextLength: 48 });
  const expected = await reference.evaluate(cases);
  await reference.close();
  // Bounds sit near the measured figures (int8: 0.97 / 1.6e-3, int4 g32: 0.73 / 1.0e-2, g128: 0.81 / 3.0e-3): random weights give nearly
  // flat logits, so top-1 flips easily; a broken quantiser lands orders of magnitude away.
  for (const [quantize, quantGroupSize, minAgreement, maxKl] of [
    ["int8", 32, 0.95, 0.01],
    ["int4", 32, 0.6, 0.05],
    ["int4", 128, 0.6, 0.05],
  ] as const) {
    const engine = await loadTestEngine({
      model: fixture,
      quantize,
      quantGroupSize,
      threads: 2,
      kvCacheSequences: 1,
      contextLength: 48,
    });
    const got = await engine.evaluate(cases);
    const logits = (evaluations: { logits: Float32Array }[]) =>
      Float32Array.from(evaluations.flatMap((e) => Array.from(e.logits)));
    const quality = compareLogits(logits(expected), logits(got), 32000);
    console.log(
      `${quantize} (groups of ${quantGroupSize}) on the fixture inputs: top-1 agreement ${quality.top1Agreement.toFixed(3)}, mean KL ${quality.meanKl.toExponential(2)}`,
    );
    expect(quality.top1Agreement, quantize).toBeGreaterThanOrEqual(minAgreement);
    expect(quality.meanKl, quantize).toBeLessThan(maxKl);
    const [cached] = await engine.forward([{ blocks: reservedBlocks(engine.shape, 0), past: 0, tokens: cases[3] }]);
    const last = got[3].logits.subarray((cases[3].length - 1) * 32000);
    expect(cached.reduce((max, value, i) => Math.max(max, Math.abs(value - last[i])), 0)).toBeLessThan(1e-3);
    const [embedding] = await engine.embed([cases[1]], "mean"); // no logits rows: the quantised lm_head runs on zero rows
    expect(Math.hypot(...embedding)).toBeCloseTo(1, 5);
    await engine.close();
  }
});
