import { describe, expect, it } from "vitest";
import { loadTokenizer } from "../../backend/text/tokenizer.ts";
import { OutputProcessor } from "../../backend/inference/output-processor.ts";
import { fixture } from "./support/fixture.ts";

// The per-choice text pipeline of the server (detokenizer + stop strings), fed forced token ids:
// the tiny fixture's random weights rarely emit byte-fallback runs on their own.
const tokenizer = await loadTokenizer(fixture);

/** Streams the ids through a processor: the deltas, and the index of the token a stop string ended on. */
function run(text: string, stops: string[]): { deltas: string[]; stoppedAt: number | undefined } {
  const processor = new OutputProcessor(tokenizer, stops, []);
  const deltas: string[] = [];
  const ids = tokenizer.encode(text);
  for (const [index, id] of ids.entries()) {
    const { text: delta, stopped } = processor.push(id);
    deltas.push(delta);
    if (stopped) return { deltas, stoppedAt: index };
  }
  deltas.push(processor.flush());
  return { deltas, stoppedAt: undefined };
}

const splitsCharacter = (text: string) => /[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]|\uFFFD/.test(text);

describe("output processor", () => {
  it("never splits a UTF-8 character across deltas (emoji through byte-fallback tokens, CJK)", () => {
    const text = "Rain 🌧 then 今天天气很好 and 👩‍👩‍👧 done";
    const { deltas } = run(text, []);
    expect(deltas.join("")).toBe(text);
    for (const delta of deltas) expect(splitsCharacter(delta), JSON.stringify(delta)).toBe(false);
    // Byte tokens were held: some deltas are empty while a character's bytes arrive.
    expect(deltas.filter((delta) => delta === "").length).toBeGreaterThan(0);
  });

  it("finds a stop string spread over several tokens and never shows it", () => {
    const text = "The answer is forty-two. END OF ANSWER and more";
    const stop = "D OF ANS";
    const ids = tokenizer.encode(text);
    // The stop string starts inside one token and ends inside another.
    expect(ids.some((id) => tokenizer.decode([id]).includes(stop))).toBe(false);
    const { deltas, stoppedAt } = run(text, [stop, "never"]);
    expect(stoppedAt).toBeDefined();
    expect(deltas.join("")).toBe("The answer is forty-two. EN");
  });

  it("matches a stop string made of byte-fallback characters", () => {
    const { deltas, stoppedAt } = run("sun ☀ rain 🌧 snow", ["🌧"]);
    expect(stoppedAt).toBeDefined();
    expect(deltas.join("")).toBe("sun ☀ rain ");
  });

  it("releases held-back text that turned out not to be a stop string when the choice ends", () => {
    const { deltas, stoppedAt } = run("it ends with EN", ["END"]);
    expect(stoppedAt).toBeUndefined();
    expect(deltas.join("")).toBe("it ends with EN");
    expect(deltas.at(-1)).toContain("EN");
  });
});
