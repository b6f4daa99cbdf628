import type { TokenConstraint } from "../sampler/token-constraint.ts";

/** A bitmask that allows every token of the vocabulary but `banned`, or only `only`. */
function bitmask(vocabSize: number, token: number, allow: boolean): Int32Array {
  const mask = new Int32Array(Math.ceil(vocabSize / 32)).fill(allow ? 0 : -1);
  mask[token >> 5] ^= 1 << (token & 31);
  return mask;
}

/**
 * The tokens of a choice that may call tools (Mistral v3: `[TOOL_CALLS]` then a JSON list of
 * calls). Before the call, `[TOOL_CALLS]` is forced (tool_choice any, required or a named
 * function), banned (none) or left to the model (auto); once it is sampled, the call follows the
 * grammar of the tools' argument schemas.
 */
export class ToolCallConstraint implements TokenConstraint {
  private calling = false;
  private readonly before: Int32Array | undefined;

  constructor(
    private readonly toolCallsId: number,
    vocabSize: number,
    mode: "auto" | "force" | "ban",
    private readonly grammar: TokenConstraint | undefined,
  ) {
    this.before = mode === "auto" ? undefined : bitmask(vocabSize, toolCallsId, mode === "force");
  }

  async allowed(): Promise<Int32Array | undefined> {
    return this.calling ? this.grammar?.allowed() : this.before;
  }

  accept(token: number): void {
    if (this.calling) return this.grammar?.accept(token);
    if (this.before && (this.before[token >> 5] & (1 << (token & 31))) === 0)
      throw new Error(`token ${token} is not allowed before the tool call`);
    if (token === this.toolCallsId) this.calling = true;
  }

  release(): void {
    this.grammar?.release();
  }
}
