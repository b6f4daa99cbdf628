import type { Worker } from "node:worker_threads";
import type { ChatCompletionRequest } from "../../protocol/chat.ts";
import { RequestError } from "../request-error.ts";
import type { ChatInput } from "./input-processor.ts";
import type { FromInputThread, ModelInfo, ToInputThread } from "./messages.ts";
import { typescriptWorker } from "./typescript-worker.ts";

type Answer = Exclude<FromInputThread, { type: "refused" }>;

/** The main thread's side of the input thread (input-thread.ts): requests in, tokenized inputs or refusals out. */
export class InputClient {
  private readonly thread: Worker;
  private readonly pending = new Map<number, { resolve(answer: Answer): void; reject(error: Error): void }>();
  private nextId = 1;

  constructor(model: string, onCrash: (error: Error) => void) {
    this.thread = typescriptWorker(new URL("./input-thread.ts", import.meta.url), { workerData: { model } });
    this.thread.on("message", (message: FromInputThread) => {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.type === "refused") pending?.reject(RequestError.from(message.error));
      else pending?.resolve(message);
    });
    this.thread.on("error", (error) => this.failAll(error, onCrash));
    this.thread.on("exit", (code) => this.failAll(new Error(`the input thread exited (code ${code})`), onCrash));
  }

  /** The loaded model's limits: sent once, before any request. */
  start(model: ModelInfo): void {
    this.post({ type: "model", model });
  }

  async chat(request: ChatCompletionRequest, tenant: string | undefined): Promise<ChatInput> {
    const answer = await this.ask((id) => ({ type: "chat", id, request, tenant }));
    return (answer as Extract<Answer, { type: "chat" }>).input;
  }

  async embed(inputs: string[]): Promise<number[][]> {
    const answer = await this.ask((id) => ({ type: "embed", id, inputs }));
    return (answer as Extract<Answer, { type: "embed" }>).sequences;
  }

  async close(): Promise<void> {
    this.thread.removeAllListeners("exit");
    await this.thread.terminate();
  }

  private ask(message: (id: number) => ToInputThread): Promise<Answer> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.post(message(id));
      } catch (error) {
        // The executor's throw rejects the promise.
        this.pending.delete(id);
        throw error;
      }
    });
  }

  private post(message: ToInputThread): void {
    this.thread.postMessage(message);
  }

  private failAll(error: Error, onCrash: (error: Error) => void): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    onCrash(error);
  }
}
