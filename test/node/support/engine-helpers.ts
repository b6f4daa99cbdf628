import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import type * as z from "zod";
import { loadEngine } from "../../../backend/engine/load-engine.ts";
import type { OnnxEngine } from "../../../backend/engine/onnx-engine.ts";
import { ExecutionProvider, type EngineOptions } from "../../../backend/options.ts";
import { argmax } from "../../../backend/sampler/sampler.ts";

/** The EP the engine tests run on: the CPU, or WebGPU (the "webgpu" vitest project, on SwiftShader in CI). */
export const testExecutionProvider = ExecutionProvider.parse(process.env.MOXIE_TEST_EXECUTION_PROVIDER ?? "cpu");

/** loadEngine on the tests' execution provider. */
export function loadTestEngine(options: z.input<typeof EngineOptions>): Promise<OnnxEngine> {
  return loadEngine({ executionProvider: testExecutionProvider, ...options });
}

/** Points the graph cache at a fresh temporary folder for this test file. */
export function useTempCache(): string {
  const dir = mkdtempSync(join(tmpdir(), "moxie-cache-"));
  const previous = process.env.MOXIE_CACHE_DIR;
  process.env.MOXIE_CACHE_DIR = dir;
  afterAll(() => {
    process.env.MOXIE_CACHE_DIR = previous;
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Largest absolute elementwise difference; the arrays must have the same length. */
export function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/**
 * Greedy decoding of `steps` tokens after `prompt`, in `blocks`: the tokens, whether each decode
 * step read the pool in place (inPlaceWindow), and the last step's logits.
 */
export async function decodeGreedily(engine: OnnxEngine, prompt: number[], blocks: number[], steps: number) {
  let [logits] = await engine.forward([{ blocks, past: 0, tokens: prompt }]);
  const tokens: number[] = [];
  const inPlace: boolean[] = [];
  for (let step = 0; step < steps; step++) {
    tokens.push(argmax(logits));
    [logits] = await engine.forward([{ blocks, past: prompt.length + step, tokens: [tokens[step]] }]);
    inPlace.push(engine.lastStepReadInPlace);
  }
  return { tokens, inPlace, logits };
}
