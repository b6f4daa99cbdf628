import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { useTempCache } from "./support/engine-helpers.ts";
import { fixture, referenceCases } from "./support/fixture.ts";

const cacheDir = useTempCache();
const exec = promisify(execFile);
const moxie = async (...args: string[]) => {
  const { stdout } = await exec("node", ["bin/moxie.js", ...args], {
    env: { ...process.env, MOXIE_CACHE_DIR: cacheDir },
  });
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
};
const scratch = mkdtempSync(join(tmpdir(), "moxie-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

it("score and generate reproduce transformers on the fixture (no tokenizer involved)", async () => {
  const { input_ids, argmax, greedy_new_ids } = referenceCases[1];
  const [scored] = await moxie(
    "score",
    "--model",
    fixture,
    "--ids",
    input_ids.join(","),
    "--last-logits",
    "--threads",
    "1",
  );
  expect(scored.argmax).toEqual(argmax);
  expect(scored.logsumexp).toHaveLength(input_ids.length);
  expect(scored.last_logits).toHaveLength(32000);
  const [generated] = await moxie(
    "generate",
    "--model",
    fixture,
    "--ids",
    input_ids.join(","),
    "--max-tokens",
    "20",
    "--json",
  );
  expect(generated.ids).toEqual(greedy_new_ids);
});

it("with a float16 KV cache, generate still continues every fixture case as transformers does", async () => {
  for (const { input_ids, greedy_new_ids } of referenceCases) {
    const [generated] = await moxie(
      "generate",
      ...["--model", fixture, "--ids", input_ids.join(","), "--max-tokens", "20", "--json"],
      ...["--kv-cache-dtype", "float16", "--threads", "1"],
    );
    expect(generated.ids).toEqual(greedy_new_ids);
  }
});

it("inspect gives Mixtral-8x7B's parameter counts and KV bytes per token from config.json alone", async () => {
  const dir = join(scratch, "mixtral");
  await moxie("make-checkpoint", "--preset", "mixtral-8x7b", "--out", dir, "--config-only", "--json");
  const [report] = await moxie("inspect", "--model", dir, "--json");
  expect((report.parameters.total / 1e9).toFixed(1)).toBe("46.7");
  expect((report.parameters.active / 1e9).toFixed(1)).toBe("12.9");
  expect(report.architecture).toBe("MixtralForCausalLM");
  // 2 (k, v) × 32 layers × 8 kv heads × 128 dims, per byte width.
  expect(report.kv_bytes_per_token).toEqual({ f32: 262144, f16: 131072, int8: 65536 });
});

it("embed tokenizes text with the checkpoint's tokenizer", async () => {
  const [result] = await moxie("embed", "--model", fixture, "--text", "The capital of France");
  expect(result.embedding).toHaveLength(64);
  expect(Math.hypot(...result.embedding)).toBeCloseTo(1, 4);
});

it("bench prints llama-bench's figures as one JSON line", async () => {
  const [result] = await moxie("bench", "--model", fixture, "--batch", "1,2", "--prompt", "8", "--gen", "2", "--json");
  expect(Object.keys(result).sort()).toEqual([
    "decode_median_step_tok_s",
    "decode_reads_in_place",
    "decode_step_bytes",
    "decode_tok_s",
    "load_s",
    "peak_rss_mb",
    "prefill_tok_s",
  ]);
  expect(Object.keys(result.decode_tok_s)).toEqual(["1", "2"]);
  expect(result.prefill_tok_s).toBeGreaterThan(0);
  // Two sequences' logits (vocabulary 32,000 floats each) and their new keys and values come back.
  expect(result.decode_step_bytes["2"].downloaded).toBeGreaterThan(2 * 32000 * 4);
});

it("a broken checkpoint exits nonzero naming the problem", async () => {
  const dir = join(scratch, "config-only");
  await moxie("make-checkpoint", "--preset", "tiny", "--out", dir, "--config-only");
  await expect(moxie("score", "--model", dir, "--ids", "1,2")).rejects.toMatchObject({
    code: 1,
    stderr: expect.stringMatching(/no model\.safetensors/),
  });
  await expect(moxie("score", "--model", fixture, "--ids", "1,x")).rejects.toMatchObject({ code: 2 });
});
