import type { GrammarSpec } from "./grammars.ts";

/** What a grammar thread starts from: grammarVocabulary()'s pieces and the end-of-sequence token. */
export interface GrammarThreadData {
  pieces: string[];
  eosId: number;
}

/** Matcher ids are chosen by the client, so it can send a matcher's tokens as soon as it has the constraint. */
export type ToGrammarThread =
  | { type: "compile"; id: number; spec: GrammarSpec; matchers: number[] }
  | { type: "accept"; matcher: number; token: number }
  | { type: "release"; matcher: number };

/**
 * After "compiled", each matcher's first mask follows, then one mask (or the error that stopped
 * it) per accepted token, in order. A mask's buffer is transferred, not copied.
 */
export type FromGrammarThread =
  | { type: "ready" }
  | { type: "compiled"; id: number }
  | { type: "failed"; id: number; message: string; aborted: boolean }
  | { type: "mask"; matcher: number; mask: Int32Array }
  | { type: "mask"; matcher: number; error: string };
