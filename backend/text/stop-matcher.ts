export interface StopMatch {
  /** Text that is safe to show now. */
  text: string;
  /** The stop string that ended the generation, if one did; `text` then ends just before it. */
  stop?: string;
}

/**
 * Finds stop strings in streamed text. Text that could be the start of a stop string is held
 * back until the next delta decides it, so a stop string split across tokens is still found
 * and never shown. Hand-written: the rule is small and tied to our streaming.
 */
export class StopMatcher {
  private readonly stops: string[];
  private held = "";
  private stopped = false;

  constructor(stops: readonly string[]) {
    // An empty stop string would match before any text; the API's "no stop" is no strings.
    this.stops = stops.filter((stop) => stop !== "");
  }

  push(delta: string): StopMatch {
    if (this.stopped) throw new Error("StopMatcher: text pushed after a stop string matched");
    const text = this.held + delta;
    let first: { index: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const index = text.indexOf(stop);
      if (index >= 0 && (first === undefined || index < first.index)) first = { index, stop };
    }
    if (first) {
      this.stopped = true;
      this.held = "";
      return { text: text.slice(0, first.index), stop: first.stop };
    }
    const keep = this.partialMatchLength(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep) };
  }

  /** The held-back text, when generation ends for another reason (length, EOS). */
  flush(): string {
    const text = this.held;
    this.held = "";
    return text;
  }

  /** Length of the longest end of `text` that some stop string begins with. */
  private partialMatchLength(text: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, text.length); length > longest; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
