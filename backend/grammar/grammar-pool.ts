import type { TokenConstraint } from "../sampler/token-constraint.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import type { GrammarThreadData } from "./grammar-messages.ts";
import { GrammarThread } from "./grammar-thread-client.ts";
import { grammarVocabulary } from "./grammar-vocabulary.ts";
import type { GrammarSpec } from "./grammars.ts";

/**
 * How long one schema may take to compile. The schema limits (schema-limits.ts) keep the largest
 * schema allowed far below it; past it the request is refused and the grammar thread replaced.
 */
export const COMPILE_BUDGET_MS = 10_000;

/**
 * The inference thread's grammars, compiled and matched in a grammar thread so that a slow
 * compile never holds up a step of the running streams, and a schema that breaks xgrammar breaks
 * only a thread. When the current thread is retired (a compile over budget, an xgrammar abort, a
 * crash), a fresh one takes new work at once and runs its JSON-mode self-check; the retired one
 * keeps serving its live matchers, then ends. Compiles run one at a time, so each one's budget
 * is its own.
 */
export class GrammarPool {
  private readonly data: GrammarThreadData;
  private thread: GrammarThread;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    tokenizer: Tokenizer,
    vocabSize: number,
    eosId: number,
    private readonly compileBudgetMs = COMPILE_BUDGET_MS,
  ) {
    this.data = { pieces: grammarVocabulary(tokenizer, vocabSize), eosId };
    this.thread = this.start();
  }

  /** Whether the current grammar thread passed its self-check (false while it starts). */
  get healthy(): boolean {
    return this.thread.healthy;
  }

  /** One matcher per choice of the grammar of `spec`. Rejects with a RequestError if it cannot be compiled in time. */
  constraints(spec: GrammarSpec, count: number): Promise<TokenConstraint[]> {
    const compiled = this.queue.then(() => {
      if (!this.thread.usable) this.thread = this.start();
      return this.thread.constraints(spec, count);
    });
    this.queue = compiled.catch(() => {});
    return compiled;
  }

  private start(): GrammarThread {
    return new GrammarThread(this.data, this.compileBudgetMs, (retired) => {
      // Replacing a thread that never passed its self-check at once could loop: that waits for work.
      if (retired === this.thread && retired.checked) this.thread = this.start();
    });
  }
}
