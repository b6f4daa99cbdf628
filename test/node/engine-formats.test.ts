import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { openCheckpoint } from "../../backend/engine/checkpoint/checkpoint.ts";
import { toBf16, toF16 } from "../../backend/engine/checkpoint/narrow-floats.ts";
import { cachedModelGraph } from "../../backend/engine/graph/graph-cache.ts";
import { useTempCache } from "./support/engine-helpers.ts";
import { fixture } from "./support/fixture.ts";

const cacheDir = useTempCache();

it("float32 → f16 and bf16 bits round to nearest even, with subnormals and overflow", () => {
  const values = Float32Array.from([1, -2, 65504, 1e6, 2 ** -24, 2 ** -25 * 3, 0.1, 1 + 2 ** -11]);
  expect(Array.from(toF16(values), (bits) => bits.toString(16))).toEqual([
    "3c00",
    "c000",
    "7bff",
    "7c00",
    "1",
    "2",
    "2e66",
    "3c00",
  ]);
  const bf = Float32Array.from([1, -2, 0.1, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
  expect(Array.from(toBf16(bf), (bits) => bits.toString(16))).toEqual(["3f80", "c000", "3dcd", "3f80", "3f82"]);
});

it("a converted graph is cached per checkpoint and options, and reused", async () => {
  const checkpoint = await openCheckpoint(fixture);
  const fp32 = await cachedModelGraph(checkpoint);
  const built = statSync(fp32).mtimeMs;
  expect(await cachedModelGraph(checkpoint)).toBe(fp32);
  expect(statSync(fp32).mtimeMs).toBe(built);
  const int8 = await cachedModelGraph(checkpoint, { quantize: "int8" });
  expect(int8).not.toBe(fp32);
  expect(readdirSync(cacheDir).sort()).toEqual([fp32, int8].map((path) => path.split("/").at(-2)).sort());
  expect(readdirSync(join(cacheDir, fp32.split("/").at(-2)!)).sort()).toEqual(["model.data", "model.onnx"]);
  // Without a group size each precision takes its own: 32 for int8, 128 for int4.
  expect(await cachedModelGraph(checkpoint, { quantize: "int8", quantGroupSize: 32 })).toBe(int8);
  const int4 = await cachedModelGraph(checkpoint, { quantize: "int4" });
  expect(await cachedModelGraph(checkpoint, { quantize: "int4", quantGroupSize: 128 })).toBe(int4);
  expect(await cachedModelGraph(checkpoint, { quantize: "int4", quantGroupSize: 32 })).not.toBe(int4);
});
