import type { Worker } from "node:worker_threads";
import { RequestError } from "../request-error.ts";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import { typescriptWorker } from "../inference/typescript-worker.ts";
import type { FromGrammarThread, GrammarThreadData, ToGrammarThread } from "./grammar-messages.ts";
import type { GrammarSpec } from "./grammars.ts";
import { RemoteConstraint, type MatcherHost } from "./remote-constraint.ts";

/**
 * The grammar thread's JS heap. xgrammar's own memory is WASM memory outside it, at most 2 GiB
 * (its build's limit); running out of either ends the thread, which is then replaced.
 */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 };

interface Waiter {
  resolve(mask: Int32Array): void;
  reject(error: Error): void;
}

/**
 * How long a mask may take, in compile budgets: it can wait behind one compile (one budget, or
 * until the compile ends when it ran over on a thread with live matchers). A thread that takes
 * longer is stuck, and is treated as crashed.
 */
const MASK_BUDGETS = 2;

/** A promise whose rejection is handled: a mask nobody asks for (its sequence ended) may fail unseen. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** A schema that cannot be compiled (in time) refuses its request, naming the field it came from. */
function refusal(spec: GrammarSpec, message: string): RequestError {
  return new RequestError("unsupported_schema", message, spec.param);
}

/**
 * The inference thread's side of one grammar thread (grammar-thread.ts). A thread that timed out,
 * whose xgrammar aborted, or that crashed is retired: it takes no new work, and ends once its
 * live matchers are released (at once if it crashed). `onRetire` is called when it retires.
 */
export class GrammarThread implements MatcherHost {
  private readonly worker: Worker;
  /** Resolves once the thread's JSON-mode self-check passed. */
  readonly ready: Promise<void>;
  private passed = false;
  private readonly compiles = new Map<number, { spec: GrammarSpec; resolve(): void; reject(error: Error): void }>();
  /** Each live matcher's callers waiting for masks, in order. */
  private readonly masks = new Map<number, Waiter[]>();
  private nextId = 1;
  private failure: Error | undefined;
  private isRetired = false;
  private ending = false;

  constructor(
    data: GrammarThreadData,
    /** How long one compile may take (COMPILE_BUDGET_MS). */
    private readonly budgetMs: number,
    private readonly onRetire: (thread: GrammarThread) => void,
  ) {
    this.worker = typescriptWorker(new URL("./grammar-thread.ts", import.meta.url), {
      workerData: data,
      resourceLimits: RESOURCE_LIMITS,
    });
    this.ready = quiet(
      new Promise((resolve, reject) => {
        this.worker.on("message", (message: FromGrammarThread) => {
          if (message.type !== "ready") return this.receive(message);
          this.passed = true;
          resolve();
        });
        this.worker.on("error", (error) => {
          reject(error);
          this.crash(error);
        });
        this.worker.on("exit", (code) => {
          const error = new Error(`the grammar thread exited (code ${code})`);
          reject(error);
          if (!this.ending) this.crash(error);
        });
      }),
    );
    // The inference thread may exit with grammar threads still running (after the listeners: adding one refs it again).
    this.worker.unref();
  }

  /** Passed its JSON-mode self-check. */
  get checked(): boolean {
    return this.passed;
  }

  /** Passed its self-check, and takes new work. */
  get healthy(): boolean {
    return this.passed && !this.isRetired;
  }

  /** Takes new work (it may still be starting). */
  get usable(): boolean {
    return !this.isRetired;
  }

  /**
   * `count` matchers of the grammar of `spec`, compiled (or found in the thread's cache) within
   * the budget. A schema xgrammar fails on or runs over the budget with refuses the request
   * (RequestError, unsupported_schema naming `spec.param`).
   */
  async constraints(spec: GrammarSpec, count: number): Promise<TokenConstraint[]> {
    const { budgetMs } = this;
    await this.ready;
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    const matchers = Array.from({ length: count }, () => this.nextId++);
    for (const matcher of matchers) this.masks.set(matcher, []);
    const first = matchers.map((matcher) => this.nextMask(matcher));
    try {
      await new Promise<void>((resolve, reject) => {
        const settle = () => {
          clearTimeout(timer);
          this.compiles.delete(id);
        };
        // xgrammar cannot be interrupted: a compile over budget costs the thread it runs on.
        const timer = setTimeout(() => {
          settle();
          reject(refusal(spec, `compiling the JSON schema took longer than the limit of ${budgetMs / 1000} s`));
          this.retire();
        }, budgetMs);
        this.compiles.set(id, {
          spec,
          resolve: () => (settle(), resolve()),
          reject: (error) => (settle(), reject(error)),
        });
        this.send({ type: "compile", id, spec, matchers });
      });
    } catch (error) {
      for (const matcher of matchers) this.drop(matcher);
      this.endIfIdle();
      throw error;
    }
    return matchers.map((matcher, i) => new RemoteConstraint(this, matcher, first[i]));
  }

  accept(matcher: number, token: number): Promise<Int32Array> {
    if (this.masks.has(matcher)) this.send({ type: "accept", matcher, token });
    return this.nextMask(matcher);
  }

  release(matcher: number): void {
    if (!this.drop(matcher)) return;
    this.send({ type: "release", matcher });
    this.endIfIdle();
  }

  /** Takes no new work from now on; ends once no matcher is live. */
  retire(): void {
    if (!this.isRetired) {
      this.isRetired = true;
      this.onRetire(this);
    }
    this.endIfIdle();
  }

  /** Forgets a matcher; a mask still coming for it fails with `error`. Whether it was live. */
  private drop(matcher: number, error = new Error("the grammar matcher was released")): boolean {
    for (const waiter of this.masks.get(matcher) ?? []) waiter.reject(error);
    return this.masks.delete(matcher);
  }

  private nextMask(matcher: number): Promise<Int32Array> {
    const waiters = this.masks.get(matcher);
    if (!waiters) return quiet(Promise.reject(this.failure ?? new Error("the grammar matcher was released")));
    return quiet(
      new Promise((resolve, reject) => {
        const limit = this.budgetMs * MASK_BUDGETS;
        const stuck = setTimeout(() => this.crash(new Error(`no grammar mask came within ${limit / 1000} s`)), limit);
        waiters.push({
          resolve: (mask) => (clearTimeout(stuck), resolve(mask)),
          reject: (error) => (clearTimeout(stuck), reject(error)),
        });
      }),
    );
  }

  private receive(message: Exclude<FromGrammarThread, { type: "ready" }>): void {
    if (message.type === "compiled") this.compiles.get(message.id)?.resolve();
    else if (message.type === "failed") {
      const compile = this.compiles.get(message.id);
      compile?.reject(refusal(compile.spec, message.message));
      // xgrammar leaks what an abort left behind and breaks after a few dozen: never reuse that instance.
      if (message.aborted) this.retire();
    } else {
      const waiter = this.masks.get(message.matcher)?.shift();
      if ("error" in message) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.mask);
    }
  }

  private send(message: ToGrammarThread): void {
    if (!this.failure) this.worker.postMessage(message);
  }

  private endIfIdle(): void {
    if (!this.isRetired || this.ending || this.masks.size > 0) return;
    this.ending = true;
    void this.worker.terminate();
  }

  /** The thread died: every compile and mask waiting on it fails, and so does each of its matchers' next mask. */
  private crash(error: Error): void {
    if (this.failure) return;
    this.failure = new Error(`the grammar thread failed: ${error.message}`);
    for (const compile of this.compiles.values()) compile.reject(this.failure);
    for (const matcher of [...this.masks.keys()]) this.drop(matcher, this.failure);
    this.retire();
  }
}
