/**
 * One projection ([M, K] × [K, N]; default Mixtral-mini's fused expert w1|w3, N=7168 K=1024; the
 * lm_head is N=32000) as fp32 Gemm on the [N, K] weight (transB), fp32 MatMul on it transposed, and as MatMulNBits (4 and 8 bits, accuracy level 0 = fp32
 * compute, 4 = int8 activations), run interleaved so machine load hits all alike.
 *   npx tsx bench/micro-matmul-nbits.ts [N] [K]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { GraphBuilder } from "../backend/engine/graph/onnx-builder.ts";
import { quantizeBlockwise } from "../backend/engine/graph/quantize.ts";

const [n, k] = [Number(process.argv[2] ?? 7168), Number(process.argv[3] ?? 1024)];
const weight = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37) * 0.05);
const root = mkdtempSync(join(tmpdir(), "moxie-micro-"));
const variants: Record<string, [bits: 4 | 8, level: number] | "gemm" | "matmul"> = {
  "fp32 Gemm": "gemm",
  "fp32 MatMul": "matmul",
  "int4 level 0": [4, 0],
  "int4 level 4": [4, 4],
  "int8 level 0": [8, 0],
  "int8 level 4": [8, 4],
};

async function session(name: string, variant: [4 | 8, number] | "gemm" | "matmul"): Promise<InferenceSession> {
  const dir = join(root, name.replace(/ /g, "-"));
  mkdirSync(dir);
  const g = GraphBuilder.create(join(dir, "m.data"), "m.data");
  const x = g.input("x", "float32", ["M", k]);
  let y: string;
  if (variant === "gemm") y = g.op("Gemm", [x, g.weight("w", "float32", [n, k], weight)], { transB: 1 });
  else if (variant === "matmul") {
    const transposed = new Float32Array(n * k);
    for (let row = 0; row < n; row++)
      for (let column = 0; column < k; column++) transposed[column * n + row] = weight[row * k + column];
    y = g.op("MatMul", [x, g.weight("w", "float32", [k, n], transposed)]);
  } else {
    const [bits, level] = variant;
    const q = quantizeBlockwise(weight, n, k, bits);
    const codes = g.weight("codes", "uint8", [n, q.blocks, q.blobBytes], q.codes);
    y = g.op(
      "MatMulNBits",
      [x, codes, g.weight("scales", "float32", [n * q.blocks], q.scales)],
      { K: k, N: n, bits, block_size: 32, accuracy_level: level },
      "com.microsoft",
    );
  }
  g.node("Identity", [y], {}, { outputs: ["y"] });
  g.output("y", "float32", ["M", n]);
  writeFileSync(join(dir, "m.onnx"), g.finish());
  return InferenceSession.create(join(dir, "m.onnx"), {
    intraOpNumThreads: 2,
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
}

const sessions = await Promise.all(
  Object.entries(variants).map(async ([name, variant]) => [name, await session(name, variant)] as const),
);
for (const m of [1, 2, 8, 64, 512]) {
  const x = new Tensor(
    "float32",
    Float32Array.from({ length: m * k }, (_, i) => Math.cos(i)),
    [m, k],
  );
  const times = new Map(sessions.map(([name]) => [name, [] as number[]]));
  for (let round = 0; round < (m >= 512 ? 5 : 20); round++) {
    for (const [name, s] of sessions) {
      const started = performance.now();
      await s.run({ x });
      times.get(name)!.push(performance.now() - started);
    }
  }
  const summary = [...times].map(
    ([name, t]) =>
      `${name} min ${Math.min(...t).toFixed(2)} ms median ${t.sort((a, b) => a - b)[t.length >> 1].toFixed(2)}`,
  );
  console.log(`M=${m}: ${summary.join(" | ")}`);
}
rmSync(root, { recursive: true, force: true });
