import type { LoadReport } from "../../protocol/health.ts";
import { Readable } from "node:stream";
import type { Worker } from "node:worker_threads";
import type { ChatCompletionRequest } from "../../protocol/chat.ts";
import type { InferenceOptions } from "../options.ts";
import { RequestError } from "../request-error.ts";
import type { FinishedTimeline } from "../scheduler/request-timeline.ts";
import type { ChoiceOutput, FromInferenceThread, ModelInfo, ToInferenceThread } from "./messages.ts";
import { InputClient } from "./input-client.ts";
import { typescriptWorker } from "./typescript-worker.ts";

/** An accepted chat request: its prompt size and a stream of its choices' outputs, ended when every choice finished. */
export interface ChatRun {
  promptTokens: number;
  outputs: AsyncIterable<ChoiceOutput>;
  /** When it reached each phase on the inference thread, once every choice finished (not when cancelled or failed). */
  timeline: FinishedTimeline | undefined;
  cancel(): void;
}

type Pending =
  | {
      kind: "chat";
      accept(run: ChatRun): void;
      reject(error: Error): void;
      run?: ChatRun & { outputs: Readable };
      open: number;
    }
  | {
      kind: "embed";
      resolve(result: { vectors: Float32Array[]; promptTokens: number }): void;
      reject(error: Error): void;
    };

/**
 * The main thread's side of the inference thread: ONNX Runtime's run() blocks its thread for the
 * whole native call, so the engine and scheduler live in one worker_thread and the HTTP server
 * here stays responsive. Requests are tokenized on the input thread first (input-client.ts). Load
 * is mirrored from the worker's per-step status posts.
 */
export class InferenceClient {
  private readonly worker: Worker;
  private readonly inputs: InputClient;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  status: LoadReport | undefined;
  /** Why the device failed, once the inference thread reported it (it exits next). */
  fault: string | undefined;
  model: ModelInfo | undefined;
  readonly ready: Promise<ModelInfo>;
  /** Rejects if the worker dies unasked (a crash): the process should then exit and be restarted. */
  readonly crashed: Promise<never>;
  private closing = false;

  constructor(options: InferenceOptions) {
    this.worker = typescriptWorker(new URL("./inference-thread.ts", import.meta.url), { workerData: options });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("error", reject);
      this.worker.once("exit", (code) =>
        reject(new Error(`the inference thread exited (code ${code}) before the model loaded`)),
      );
      this.worker.on("message", (message: FromInferenceThread) => {
        if (message.type === "ready") {
          this.inputs.start(message.model);
          this.model = message.model;
          this.status = message.status;
          resolve(message.model);
        } else if (message.type === "failed") reject(new Error(message.message));
        else this.receive(message);
      });
    });
    // Closing before the model loaded rejects `ready` with nobody left waiting: not an unhandled rejection.
    this.ready.catch(() => {});
    let crash!: (error: Error) => void;
    this.crashed = new Promise((_, reject) => (crash = reject));
    this.crashed.catch(() => {});
    this.inputs = new InputClient(options.model, (error) => {
      this.failAll(error);
      if (!this.closing) crash(error);
    });
    this.worker.on("error", (error) => {
      this.failAll(error);
      crash(error);
    });
    this.worker.on("exit", (code) => {
      this.exited = true;
      const error = new Error(
        this.fault ? `the device failed: ${this.fault}` : `the inference thread exited (code ${code})`,
      );
      this.failAll(error);
      if (!this.closing) crash(error);
    });
  }

  /** Tokenized on the input thread, then run on the inference thread. */
  async chat(request: ChatCompletionRequest, tenant?: string): Promise<ChatRun> {
    const input = await this.inputs.chat(request, tenant);
    const id = this.nextId++;
    return new Promise((accept, reject) => {
      this.pending.set(id, { kind: "chat", accept, reject, open: request.n });
      this.handOff(id, { type: "chat", id, request, input });
    });
  }

  async embed(inputs: string[]): Promise<{ vectors: Float32Array[]; promptTokens: number }> {
    const sequences = await this.inputs.embed(inputs);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { kind: "embed", resolve, reject });
      this.handOff(id, { type: "embed", id, sequences });
    });
  }

  /** Lets the worker finish its step and release the engine; a worker still loading is stopped outright. */
  async close(): Promise<void> {
    this.closing = true;
    await this.inputs.close();
    if (this.exited) return;
    const exited = new Promise((resolve) => this.worker.once("exit", resolve));
    if (this.model) this.send({ type: "close" });
    else await this.worker.terminate();
    await exited;
  }

  /** Posts a request to the worker; one that cannot be posted (it does not clone) leaves nothing pending. */
  private handOff(id: number, message: ToInferenceThread): void {
    try {
      this.send(message);
    } catch (error) {
      this.pending.delete(id);
      throw error;
    }
  }

  private send(message: ToInferenceThread): void {
    this.worker.postMessage(message);
  }

  private receive(message: Exclude<FromInferenceThread, { type: "ready" | "failed" }>): void {
    if (message.type === "fault") {
      this.fault = message.reason;
      return;
    }
    if ("status" in message) this.status = message.status;
    if (message.type === "accepted") this.accepted(message.id, message.promptTokens);
    else if (message.type === "refused") this.settle(message.id)?.reject(RequestError.from(message.error));
    else if (message.type === "embedded") {
      const pending = this.settle(message.id);
      if (pending?.kind === "embed") pending.resolve({ vectors: message.vectors, promptTokens: message.promptTokens });
    } else if (message.type === "outputs") {
      for (const output of message.outputs) this.deliver(output);
    }
  }

  private accepted(id: number, promptTokens: number): void {
    const pending = this.pending.get(id);
    if (pending?.kind !== "chat") return;
    const stream = new Readable({ objectMode: true, read() {} });
    pending.run = {
      promptTokens,
      outputs: stream,
      timeline: undefined,
      cancel: () => {
        if (!this.pending.delete(id)) return;
        this.send({ type: "cancel", id });
        stream.push(null);
      },
    };
    pending.accept(pending.run);
  }

  private deliver(output: ChoiceOutput): void {
    const pending = this.pending.get(output.id);
    if (pending?.kind !== "chat" || !pending.run) return;
    pending.run.timeline ??= output.timeline;
    pending.run.outputs.push(output);
    if (output.finish !== undefined && --pending.open === 0) {
      this.pending.delete(output.id);
      pending.run.outputs.push(null);
    }
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    return pending;
  }

  /** The worker died: every request in flight ends with an error instead of hanging. */
  private failAll(error: Error): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      if (pending.kind === "chat" && pending.run) pending.run.outputs.destroy(error);
      else pending.reject(error);
    }
  }
}
