// A float16 KV pool on the device (WebGPU on lavapipe from Mesa 25, which has shader-f16; CI
// unpacks it, see .ci/run) against the CPU EP's float16 cache. Both round keys and values to
// float16 the same way; what differs is float32 summation order, measured at 3e-5 on these logits.
import { afterAll, beforeAll, expect, it } from "vitest";
import { reservedBlocks } from "../../backend/engine/engine.ts";
import type { OnnxEngine } from "../../backend/engine/onnx-engine.ts";
import { loadTestEngine, maxDifference, useTempCache } from "../node/support/engine-helpers.ts";
import { fixture, referenceCases } from "../node/support/fixture.ts";

useTempCache();
const options = {
  model: fixture,
  threads: 2,
  contextLength: 64,
  blockSize: 4,
  kvCacheSequences: 3,
  kvCacheDtype: "float16",
} as const;
let device: OnnxEngine;
let host: OnnxEngine;
beforeAll(async () => {
  device = await loadTestEngine(options);
  host = await loadTestEngine({ ...options, executionProvider: "cpu" });
});
afterAll(async () => {
  await device.close();
  await host.close();
});

const prompt = referenceCases[3].input_ids;
const greedy = { temperature: 0, uniform: 0 };

it("decodes through a float16 device cache as the CPU's float16 cache does", async () => {
  const decode = async (engine: OnnxEngine) => {
    const blocks = reservedBlocks(engine.shape, 0).reverse();
    let [token] = (await engine.forward([{ blocks, past: 0, tokens: prompt, draw: greedy }])) as number[];
    const tokens = [token];
    for (let step = 0; step < 5; step++) {
      [token] = (await engine.forward([
        { blocks, past: prompt.length + step, tokens: [token], draw: greedy },
      ])) as number[];
      tokens.push(token);
    }
    const [logits] = await engine.forward([{ blocks, past: prompt.length + 5, tokens: [token] }]);
    return { tokens, logits: logits };
  };
  const [onDevice, onHost] = [await decode(device), await decode(host)];
  expect(onDevice.tokens).toEqual(onHost.tokens);
  expect(maxDifference(onDevice.logits, onHost.logits)).toBeLessThan(1e-3);
});

it("copies a float16 block on the device: decoding from the copy equals decoding from the original", async () => {
  const [source, copy] = [reservedBlocks(device.shape, 1), reservedBlocks(device.shape, 2)];
  const head = prompt.slice(0, 10); // two full blocks of 4 and a partial one
  await device.forward([{ blocks: source, past: 0, tokens: head }]);
  const [fromSource] = await device.forward([{ blocks: source, past: head.length, tokens: [7] }]);
  const shared = [...source.slice(0, 2), copy[2], ...copy.slice(3)];
  device.copyBlock(source[2], copy[2]);
  const [fromCopy] = await device.forward([{ blocks: shared, past: head.length, tokens: [7] }]);
  expect(maxDifference(fromCopy, fromSource)).toBeLessThan(1e-5);
});
