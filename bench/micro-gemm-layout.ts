import { InferenceSession, Tensor } from "onnxruntime-node";
import { GraphBuilder } from "../gpu-backend/engine/graph/onnx-builder.ts";
import { writeFileSync } from "node:fs";
const N = 7168, K = 1024;
const w = new Float32Array(N * K).map(() => Math.random() - 0.5);
const wt = new Float32Array(N * K); for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wt[k * N + n] = w[n * K + k];
async function make(kind: string) {
  const dir = `/tmp/moxie-micro-${kind}`; (await import("node:fs")).mkdirSync(dir, { recursive: true });
  const g = new GraphBuilder(`${dir}/m.data`, "m.data");
  const x = g.input("x", "float32", ["M", K]);
  let y: string;
  if (kind === "gemm") y = g.op("Gemm", [x, g.weight("w", "float32", [N, K], w)], { transB: 1 });
  else y = g.op("MatMul", [x, g.weight("w", "float32", [K, N], wt)]);
  g.node("Identity", [y], {}, { outputs: ["y"] }); g.output("y", "float32", ["M", N]);
  writeFileSync(`${dir}/m.onnx`, g.finish());
  return InferenceSession.create(`${dir}/m.onnx`, { intraOpNumThreads: 2, logSeverityLevel: 4, extra: { session: { intra_op: { allow_spinning: "0" } } } });
}
const sessions = { gemm: await make("gemm"), matmul: await make("matmul") };
for (const M of [1, 8, 64]) {
  const x = new Tensor("float32", new Float32Array(M * K).fill(0.1), [M, K]);
  const times: Record<string, number[]> = { gemm: [], matmul: [] };
  for (let r = 0; r < 20; r++) for (const [k, s] of Object.entries(sessions)) { const t = performance.now(); await s.run({ x }); times[k].push(performance.now() - t); }
  console.log(M, Object.entries(times).map(([k, v]) => `${k} median ${v.sort((a, b) => a - b)[10].toFixed(2)} min ${v[0].toFixed(2)}`).join(" | "));
}
