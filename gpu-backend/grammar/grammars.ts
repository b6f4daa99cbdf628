import type { CompiledGrammar, GrammarCompiler, GrammarMatcher } from "@mlc-ai/web-xgrammar";
import type { TokenConstraint } from "../sampler/token-constraint.ts";
import type { PreparedSchema } from "./json-schema-support.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { loadXGrammar } from "./xgrammar.ts";

/** Compiled grammars kept for reuse; the least recently used beyond this are freed. */
const CACHE_ENTRIES = 64;
/** JSON as Mistral's models write it (and mistral-common renders tool calls): ", " and ": ", no other whitespace. */
const SEPARATORS: [string, string] = [", ", ": "];

/** Whether text has a character below U+0020 (JSON forbids them raw in strings). */
const hasControlCharacter = (text: string) => [...text].some((char) => char.charCodeAt(0) < 0x20);

export class GrammarError extends Error {}

/**
 * A JSON grammar to compile: a prepared schema, and whether objects are closed to properties it
 * does not name (xgrammar's strict mode; JSON mode's open object is the exception).
 */
export interface GrammarSpec {
  prepared: PreparedSchema;
  closedObjects: boolean;
}

/** A sequence's grammar state: the mask of the tokens that can continue a valid document. */
class GrammarConstraint implements TokenConstraint {
  private released = false;

  constructor(private readonly matcher: GrammarMatcher) {}

  allowed(): Promise<Int32Array> {
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
 * cached, so a repeated schema costs only its matcher. Compiling happens when a request
 * arrives, between scheduler steps, never inside a step.
 */
export class Grammars {
  private compiler: Promise<GrammarCompiler> | undefined;
  private readonly compiled = new Map<string, Promise<CompiledGrammar>>();

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly vocabSize: number,
    private readonly eosId: number,
  ) {}

  /**
   * xgrammar's view of the vocabulary. Tokens given as "" are never allowed by a grammar: the
   * control tokens; the byte-fallback tokens of non-ASCII bytes, which xgrammar 0.1.27 accepts in
   * sequences that are not valid UTF-8 (seen as "\uFFFD\uFFFD" in a string it had bounded by
   * maxLength); and tokens with control characters, which its bounded strings admit although
   * JSON forbids them raw (the grammars write no whitespace but ", " and ": "). So characters
   * with no token of their own cannot appear in constrained output.
   */
  private compilerFor(): Promise<GrammarCompiler> {
    this.compiler ??= (async () => {
      const xgrammar = await loadXGrammar();
      const excluded = (id: number) => {
        const byte = this.tokenizer.byteValue(id);
        if (byte !== undefined) return byte < 0x20 || byte >= 0x80;
        return this.tokenizer.specialTokens.has(id) || hasControlCharacter(this.tokenizer.piece(id) ?? "");
      };
      const pieces = Array.from({ length: this.vocabSize }, (_, id) =>
        excluded(id) ? "" : (this.tokenizer.piece(id) ?? ""),
      );
      const info = await xgrammar.TokenizerInfo.createTokenizerInfo(pieces, "byte_fallback", true, this.vocabSize, [
        this.eosId,
      ]);
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
    return grammar.catch((error: unknown) => {
      throw new GrammarError(
        `the JSON schema cannot be compiled to a grammar: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  }

  /** xgrammar's own JSON-schema grammar, with the numeric range rules replaced by exact ones (numeric-range.ts). */
  private async compileNew({ prepared, closedObjects }: GrammarSpec): Promise<CompiledGrammar> {
    const compiler = await this.compilerFor();
    const schema = JSON.stringify(prepared.schema);
    const ranges = Object.entries(prepared.ranges);
    if (ranges.length === 0) return compiler.compileJSONSchema(schema, false, -1, SEPARATORS, closedObjects);
    const xgrammar = await loadXGrammar();
    let ebnf = await xgrammar.Testings._jsonSchemaToEBNF(schema, false, -1, SEPARATORS, closedObjects);
    for (const [name, rule] of ranges) {
      const line = new RegExp(`^defs_${name} ::= .*$`, "m");
      if (!line.test(ebnf)) throw new Error(`xgrammar wrote no rule for the range ${name}`);
      ebnf = ebnf.replace(line, () => `defs_${name} ::= ${rule}`);
    }
    return compiler.compileGrammar(ebnf);
  }

  /** A fresh matcher of a compiled grammar, for one sequence. */
  async constraint(grammar: CompiledGrammar): Promise<TokenConstraint> {
    const xgrammar = await loadXGrammar();
    return new GrammarConstraint(await xgrammar.GrammarMatcher.createGrammarMatcher(grammar, [this.eosId]));
  }
}
