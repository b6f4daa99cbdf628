import { closeSync, openSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { typescriptWorker } from "../../inference/typescript-worker.ts";
import type { QuantGroupSize, WeightDtype } from "../../options.ts";
import { toF16 } from "../checkpoint/narrow-floats.ts";
import type { TensorEntry } from "../checkpoint/safetensors.ts";
import { readTensorF32 } from "../checkpoint/tensor-data.ts";
import { encodeNative } from "./native-quant.ts";
import { encodePrequantized } from "./prequantized.ts";
import { quantizeBlockwise } from "./quantize.ts";

/**
 * One graph weight computed from its checkpoint tensors (rows of `parts` stacked) and written at
 * the offsets the graph builder reserved for it: as float32, quantised by moxie, or a GGUF's own
 * quantisation re-laid for MatMulNBits. A job carries no data, only where to read and write, so
 * jobs can run on any thread and the conversion's memory is one job per thread.
 */
export type WeightJob =
  | { kind: "float"; dtype: WeightDtype; parts: TensorEntry[]; offset: number }
  | { kind: "quantize"; parts: TensorEntry[]; bits: 4 | 8; groupSize: QuantGroupSize; codes: number; scales: number }
  | { kind: "native"; parts: TensorEntry[]; codes: number; scales: number; correction: number | null }
  | { kind: "prequantized"; parts: TensorEntry[]; codes: number; scales: number; zeroPoints: number | null };

/** Runs a job, writing into the data file open as `fd`. */
export function runWeightJob(job: WeightJob, fd: number): void {
  if (job.kind === "native") {
    const native = encodeNative(job.parts);
    write(fd, native.codes, job.codes);
    write(fd, native.scales, job.scales);
    if (job.correction !== null) write(fd, native.correction!, job.correction);
    return;
  }
  if (job.kind === "prequantized") {
    const packed = encodePrequantized(job.parts);
    write(fd, packed.codes, job.codes);
    write(fd, packed.scales, job.scales);
    if (job.zeroPoints !== null) write(fd, packed.zeroPoints!, job.zeroPoints);
    return;
  }
  const weight = stackedF32(job.parts);
  if (job.kind === "float") return write(fd, job.dtype === "float16" ? halves(weight, job.parts) : weight, job.offset);
  const rows = weight.length / job.parts[0].shape[1];
  const quantized = quantizeBlockwise(weight, rows, job.parts[0].shape[1], job.bits, job.groupSize);
  write(fd, quantized.codes, job.codes);
  write(fd, quantized.scales, job.scales);
}

function stackedF32(parts: TensorEntry[]): Float32Array {
  if (parts.length === 1) return readTensorF32(parts[0]);
  const stacked = new Float32Array(parts.reduce((sum, part) => sum + part.shape[0] * part.shape[1], 0));
  let offset = 0;
  for (const part of parts) {
    const data = readTensorF32(part);
    stacked.set(data, offset);
    offset += data.length;
  }
  return stacked;
}

/** The weights as float16, refused where one exceeds its range (±65504) rather than turned into infinity. */
function halves(weight: Float32Array, parts: TensorEntry[]): Uint16Array {
  const bits = toF16(weight);
  const overflow = bits.findIndex((half, i) => (half & 0x7c00) === 0x7c00 && Number.isFinite(weight[i]));
  if (overflow >= 0)
    throw new Error(
      `${parts.map((part) => part.name).join(" + ")}: the weight ${weight[overflow]} exceeds float16's range; use --dtype float32 or --quantize`,
    );
  return bits;
}

function write(fd: number, data: ArrayBufferView, position: number): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written, position + written);
}

/** Below this many checkpoint bytes the jobs run on the calling thread: starting threads would cost more. */
const THREADED_BYTES = 64 * 2 ** 20;

/**
 * Runs the jobs of one graph on every core (worker threads), each job as one message, the next
 * handed to whichever thread is free; `onDone` hears each job's checkpoint bytes as it finishes.
 */
export async function runWeightJobs(
  dataPath: string,
  jobs: { job: WeightJob; bytes: number }[],
  onDone: (bytes: number) => void,
): Promise<void> {
  const total = jobs.reduce((sum, { bytes }) => sum + bytes, 0);
  if (total < THREADED_BYTES) {
    const fd = openSync(dataPath, "r+");
    try {
      for (const { job, bytes } of jobs) {
        runWeightJob(job, fd);
        onDone(bytes);
      }
    } finally {
      closeSync(fd);
    }
    return;
  }
  const queue = [...jobs];
  const threads = Math.min(availableParallelism(), queue.length);
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: threads }, async () => {
        const worker = typescriptWorker(new URL("./weight-worker.ts", import.meta.url), { workerData: { dataPath } });
        workers.push(worker);
        for (let next = queue.shift(); next; next = queue.shift()) {
          await runOn(worker, next.job);
          onDone(next.bytes);
        }
      }),
    );
  } finally {
    // After a failure, the other threads take no more jobs.
    queue.length = 0;
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/** Sends one job to a worker and waits for it to finish (or fail, or the thread to die). */
function runOn(worker: Worker, job: WeightJob): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      worker.off("message", done);
      worker.off("error", settle);
      worker.off("exit", exited);
      if (error) reject(error);
      else resolve();
    };
    const done = (message: { error?: string }) => settle(message.error ? new Error(message.error) : undefined);
    const exited = (code: number) => settle(new Error(`a weight conversion thread exited (code ${code})`));
    worker.on("message", done);
    worker.on("error", settle);
    worker.on("exit", exited);
    worker.postMessage(job);
  });
}
