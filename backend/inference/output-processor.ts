import { IncrementalDetokenizer } from "../text/detokenizer.ts";
import { StopMatcher } from "../text/stop-matcher.ts";
import type { Tokenizer } from "../text/tokenizer.ts";

/**
 * One choice's tokens → the text to stream (vLLM's output processor): UTF-8-safe deltas, with
 * stop strings held back until decided and never shown. EOS is a control token and adds no text.
 */
export class OutputProcessor {
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly stops: StopMatcher;

  constructor(tokenizer: Tokenizer, stops: string[], context: readonly number[]) {
    this.detokenizer = new IncrementalDetokenizer(tokenizer, context);
    this.stops = new StopMatcher(stops);
  }

  /** The text token `id` makes showable, and whether a stop string ended the choice. */
  push(id: number): { text: string; stopped: boolean } {
    const match = this.stops.push(this.detokenizer.push(id));
    return { text: match.text, stopped: match.stop !== undefined };
  }

  /** Whatever is still held back when the choice ends for another reason than a stop string. */
  flush(): string {
    const tail = this.stops.push(this.detokenizer.flush());
    return tail.stop !== undefined ? tail.text : tail.text + this.stops.flush();
  }
}
