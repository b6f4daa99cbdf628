/**
 * Where a step's time goes: runs prefill and decode steps with ONNX Runtime's profiler on and
 * sums node time per model part (the graph builder's scopes) and per op type, per scenario.
 *   npx tsx bench/engine-profile.ts --model DIR [--quantize int4] [--threads 2] [--prompt 512] [--steps 16] [--depth 0] [--spinning]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseScriptArgs } from "../cli/command.ts";
import { engineOptions, measurementOptions } from "../cli/model-options.ts";
import { reservedBlocks } from "../backend/engine/engine.ts";
import { loadEngine } from "../backend/engine/load-engine.ts";

const { quantize, prompt, steps, depth, ...values } = parseScriptArgs({
  name: "bench/engine-profile.ts",
  summary: "ONNX Runtime's per-node profile of prefill and decode steps, summed per model part and op",
  options: {
    model: engineOptions.model,
    quantize: engineOptions.quantize,
    ...measurementOptions,
    steps: { type: "integer", min: 1, default: "16", description: "decode steps per batch size" },
    depth: {
      ...measurementOptions.depth,
      description:
        "cached tokens each decoding sequence attends to (their values do not change the cost, so they are not prefilled)",
    },
    spinning: { type: "boolean", description: "let ONNX Runtime's idle threads spin" },
  },
});

const dir = mkdtempSync(join(tmpdir(), "moxie-profile-"));
const engine = await loadEngine({
  model: values.model,
  quantize,
  threads: values.threads,
  kvCacheSequences: 8,
  contextLength: Math.max(prompt, depth) + steps + 2,
  spinning: values.spinning,
  profile: join(dir, "profile"),
});
const tokens = (count: number, offset: number) =>
  Array.from({ length: count }, (_, i) => 1 + (((i + offset) * 7919) % (engine.shape.vocabSize - 1)));
const scenarios: { name: string; runs: number }[] = [];
const blocks = (sequence: number) => reservedBlocks(engine.shape, sequence);

await engine.forward([{ blocks: blocks(0), past: 0, tokens: tokens(16, 0) }]);
scenarios.push({ name: "warm-up", runs: 1 });
await engine.forward([{ blocks: blocks(0), past: 0, tokens: tokens(prompt, 1) }]);
scenarios.push({ name: `prefill ${prompt}`, runs: 1 });
for (const batch of [1, 8]) {
  const sequences = Array.from({ length: batch }, (_, sequence) => sequence);
  await engine.forward(sequences.map((sequence) => ({ blocks: blocks(sequence), past: depth, tokens: [1] })));
  scenarios.push({ name: `decode start ×${batch}`, runs: 1 });
  for (let step = 0; step < steps; step++) {
    await engine.forward(
      sequences.map((sequence) => ({
        blocks: blocks(sequence),
        past: depth + 1 + step,
        tokens: tokens(1, step * batch + sequence),
      })),
    );
  }
  scenarios.push({ name: `decode ×${batch} at depth ${depth}`, runs: steps });
}
engine.endProfiling();
await engine.close();

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}
const file = readdirSync(dir).find((name) => name.endsWith(".json"));
if (!file) throw new Error("ONNX Runtime wrote no profile");
const events = JSON.parse(readFileSync(join(dir, file), "utf8")) as ProfileEvent[];
rmSync(dir, { recursive: true, force: true });
const runs = events
  .filter((event) => event.cat === "Session" && event.name === "model_run")
  .sort((a, b) => a.ts - b.ts);
const nodes = events.filter((event) => event.cat === "Node" && event.name.endsWith("_kernel_time"));

let first = 0;
for (const scenario of scenarios) {
  const mine = runs.slice(first, first + scenario.runs);
  first += scenario.runs;
  if (scenario.name.startsWith("warm-up") || scenario.name.startsWith("decode start")) continue;
  const inRuns = nodes.filter((node) => mine.some((run) => node.ts >= run.ts && node.ts <= run.ts + run.dur));
  const runMs = mine.reduce((sum, run) => sum + run.dur, 0) / 1000 / mine.length;
  const byPart = new Map<string, number>();
  const byOp = new Map<string, number>();
  for (const node of inRuns) {
    const part = node.name.split("/")[0];
    byPart.set(part, (byPart.get(part) ?? 0) + node.dur / 1000 / mine.length);
    const op = node.args?.op_name ?? "?";
    byOp.set(`${part}:${op}`, (byOp.get(`${part}:${op}`) ?? 0) + node.dur / 1000 / mine.length);
  }
  const nodeMs = [...byPart.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\n## ${scenario.name} (${quantize ?? "fp32"}): ${runMs.toFixed(2)} ms per run, ${nodeMs.toFixed(2)} ms in nodes`,
  );
  for (const [part, ms] of [...byPart].sort((a, b) => b[1] - a[1]))
    console.log(`  ${part.padEnd(12)} ${ms.toFixed(2).padStart(8)} ms  ${((100 * ms) / runMs).toFixed(1)}%`);
  console.log(`  ${"(between nodes)".padEnd(12)} ${(runMs - nodeMs).toFixed(2).padStart(8)} ms`);
  console.log(
    "  top ops:",
    [...byOp]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([op, ms]) => `${op} ${ms.toFixed(2)}`)
      .join(", "),
  );
}
