import type { CompiledGrammar, GrammarCompiler, GrammarMatcher } from "@mlc-ai/web-xgrammar";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import type { PreparedSchema } from "./json-schema-support.ts";
import { loadXGrammar } from "./xgrammar.ts";

/** Compiled grammars kept for reuse; the least recently used beyond this are freed. */
const CACHE_ENTRIES = 64;
/** JSON as Mistral's models write it (and mistral-common renders tool calls): ", " and ": ", no other whitespace. */
const SEPARATORS: [string, string] = [", ", ": "];

/**
 * A JSON grammar to compile: a prepared schema, and whether objects are closed to properties it
 * does not name (xgrammar's strict mode; JSON mode's open object is the exception).
 */
export interface GrammarSpec {
  prepared: PreparedSchema;
  closedObjects: boolean;
  /** The request field the schema comes from: one that cannot be compiled refuses the request, naming it. */
  param: "response_format" | "tools";
}

/** A sequence's grammar state: the mask of the tokens that can continue a valid document. */
class GrammarConstraint implements TokenConstraint {
  private released = false;

  constructor(private readonly matcher: GrammarMatcher) {}

  /** Asked for a mask past the end of the document, xgrammar aborts (breaking its instance): refused here instead. */
  allowed(): Promise<Int32Array> {
    if (this.matcher.isTerminated()) return Promise.reject(new Error("the grammar's document has ended"));
    return this.matcher.getNextTokenBitmask();
  }

  accept(token: number): void {
    if (!this.matcher.acceptToken(token)) throw new Error(`the grammar does not accept token ${token}`);
  }

  release(): void {
    if (!this.released) this.matcher.dispose();
    this.released = true;
  }
}

/**
 * JSON-schema grammars for one model's vocabulary (xgrammar): compiled once per schema and
 * cached, so a repeated schema costs only its matcher. They live in a grammar thread
 * (grammar-thread.ts), with the cache: xgrammar's objects cannot leave the WASM instance that made them.
 */
export class Grammars {
  private compiler: Promise<GrammarCompiler> | undefined;
  private readonly compiled = new Map<string, Promise<CompiledGrammar>>();

  constructor(
    /** grammarVocabulary(): one piece per token id, "" for tokens no grammar allows. */
    private readonly pieces: string[],
    private readonly eosId: number,
  ) {}

  private compilerFor(): Promise<GrammarCompiler> {
    this.compiler ??= (async () => {
      const xgrammar = await loadXGrammar();
      const info = await xgrammar.TokenizerInfo.createTokenizerInfo(
        this.pieces,
        "byte_fallback",
        true,
        this.pieces.length,
        [this.eosId],
      );
      return xgrammar.GrammarCompiler.createGrammarCompiler(info, false);
    })();
    return this.compiler;
  }

  /** The grammar of the documents valid against a prepared schema; from the cache when it was compiled before. */
  compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    const key = JSON.stringify(spec);
    let grammar = this.compiled.get(key);
    if (grammar) {
      this.compiled.delete(key);
    } else {
      grammar = this.compileNew(spec);
      grammar.catch(() => this.compiled.delete(key));
    }
    this.compiled.set(key, grammar);
    for (const [oldest, evicted] of this.compiled) {
      if (this.compiled.size <= CACHE_ENTRIES) break;
      this.compiled.delete(oldest);
      void evicted.then(
        (compiled) => compiled.dispose(),
        () => {},
      );
    }
    // `cause` is xgrammar's own error: the grammar thread tells an abort by it.
    return grammar.catch((error: unknown) => {
      throw new Error(
        `the JSON schema cannot be compiled to a grammar: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    });
  }

  /**
   * xgrammar's own JSON-schema grammar, with the numeric range rules replaced by exact ones
   * (numeric-range.ts) in one pass over its text, so the cost stays linear in the grammar's size
   * however many ranges it has.
   */
  private async compileNew({ prepared, closedObjects }: GrammarSpec): Promise<CompiledGrammar> {
    const compiler = await this.compilerFor();
    const schema = JSON.stringify(prepared.schema);
    const { ranges } = prepared;
    if (Object.keys(ranges).length === 0)
      return compiler.compileJSONSchema(schema, false, -1, SEPARATORS, closedObjects);
    const xgrammar = await loadXGrammar();
    const replaced = new Set<string>();
    const ebnf = (await xgrammar.Testings._jsonSchemaToEBNF(schema, false, -1, SEPARATORS, closedObjects)).replace(
      /^defs_(\w+) ::= .*$/gm,
      (line, name: string) => {
        if (!Object.hasOwn(ranges, name)) return line;
        replaced.add(name);
        return `defs_${name} ::= ${ranges[name]}`;
      },
    );
    const missing = Object.keys(ranges).find((name) => !replaced.has(name));
    if (missing) throw new Error(`xgrammar wrote no rule for the range ${missing}`);
    return compiler.compileGrammar(ebnf);
  }

  /** A fresh matcher of a compiled grammar, for one sequence. */
  async constraint(grammar: CompiledGrammar): Promise<TokenConstraint> {
    const xgrammar = await loadXGrammar();
    return new GrammarConstraint(await xgrammar.GrammarMatcher.createGrammarMatcher(grammar, [this.eosId]));
  }
}
