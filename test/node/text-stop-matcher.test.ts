import { describe, expect, it } from "vitest";
import { StopMatcher } from "../../backend/text/stop-matcher.ts";

/** Pushes deltas until a stop matches; returns the shown text and the stop. */
function run(stops: string[], deltas: string[]): { shown: string[]; stop?: string } {
  const matcher = new StopMatcher(stops);
  const shown: string[] = [];
  for (const delta of deltas) {
    const match = matcher.push(delta);
    shown.push(match.text);
    if (match.stop !== undefined) return { shown, stop: match.stop };
  }
  shown.push(matcher.flush());
  return { shown };
}

describe("stop matcher", () => {
  it("finds a stop string split across deltas and never shows it", () => {
    const { shown, stop } = run(["###"], ["ab#", "#", "#cd"]);
    expect(stop).toBe("###");
    expect(shown).toEqual(["ab", "", ""]);
  });

  it("holds back only what could start a stop string, and releases it when it does not", () => {
    const { shown, stop } = run(["###"], ["a#", "#b", "c"]);
    expect(stop).toBeUndefined();
    expect(shown).toEqual(["a", "##b", "c", ""]);
  });

  it("releases held text at the end when generation stops for another reason", () => {
    expect(run(["</answer>"], ["42 </ans"]).shown).toEqual(["42 ", "</ans"]);
  });

  it("stops at the earliest match among several stop strings", () => {
    expect(run(["world", "lo w"], ["hello world"])).toEqual({ shown: ["hel"], stop: "lo w" });
    expect(run(["b", "abc"], ["xa", "bc"])).toEqual({ shown: ["x", ""], stop: "abc" });
  });

  it("matches multi-byte stop strings and text around them", () => {
    expect(run(["。\n"], ["今天", "很好。", "\n明天"])).toEqual({ shown: ["今天", "很好", ""], stop: "。\n" });
    expect(run(["🛑"], ["go 🚦", "🛑 no"])).toEqual({ shown: ["go 🚦", ""], stop: "🛑" });
  });

  it("passes everything through without stop strings (empty ones are ignored)", () => {
    expect(run([""], ["a", "b"]).shown).toEqual(["a", "b", ""]);
  });

  it("refuses text after a stop matched", () => {
    const matcher = new StopMatcher(["x"]);
    expect(matcher.push("x").stop).toBe("x");
    expect(() => matcher.push("y")).toThrow(/after a stop string matched/);
  });
});
