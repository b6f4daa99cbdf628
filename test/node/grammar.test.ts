import { describe, expect, it } from "vitest";
import { prepareSchema } from "../../backend/grammar/json-schema-support.ts";
import { UnsupportedSchemaError } from "../../backend/grammar/schema-error.ts";
import { numericRangeRule } from "../../backend/grammar/numeric-range.ts";
import { ToolCallConstraint } from "../../backend/grammar/tool-call-constraint.ts";
import { loadXGrammar } from "../../backend/grammar/xgrammar.ts";

const allowed = (mask: Int32Array | undefined, token: number) =>
  mask === undefined || (mask[token >> 5] & (1 << (token & 31))) !== 0;

describe("numeric ranges", () => {
  it.each([
    [0, 120, false],
    [-20, -3, false],
    [-7, 1234, false],
    [5, Infinity, false],
    [-Infinity, -10, false],
    [0, 10, true],
    [-3, 250, true],
    [-10, -2, true],
    [0, 1, true],
    [7, Infinity, true],
  ])("[%d, %d] (decimal: %s) accepts exactly the JSON numbers in range", async (low, high, decimal) => {
    const xgrammar = await loadXGrammar();
    const grammar = await xgrammar.Grammar.fromEBNF(`root ::= ${numericRangeRule(low, high, decimal)}`);
    const candidates = ["01", "-01", "1.", "1e5", "12345", "-12345"];
    for (let value = -300; value <= 1300; value += 1)
      candidates.push(String(value), ...(decimal ? [`${value}.5`, `${value}.05`] : []));
    for (const text of candidates) {
      const value = Number(text);
      const json = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text);
      const expected = json && (decimal || Number.isInteger(value)) && value >= low && value <= high;
      expect(await xgrammar.Testings.isGrammarAcceptString(grammar, text), text).toBe(expected);
    }
  });
});

describe("JSON schema support", () => {
  it("refuses a keyword the grammar would ignore, naming it and where it is", () => {
    const schema = { type: "object", properties: { tags: { type: "array", uniqueItems: true } } };
    expect(() => prepareSchema(schema, true)).toThrow(new UnsupportedSchemaError("uniqueItems", "#/properties/tags"));
    expect(() => prepareSchema({ allOf: [{ type: "string" }, { minLength: 1 }] }, true)).toThrow(/"allOf"/);
    expect(() => prepareSchema({ type: "string", format: "ipv7" }, true)).toThrow(/"format"/);
    expect(() => prepareSchema({ type: "number", minimum: 0.2, maximum: 0.8 }, true)).toThrow(/"minimum".*no integer/);
  });

  it("strict: false drops what it cannot enforce", () => {
    expect(
      prepareSchema({ type: "object", properties: { tags: { type: "array", uniqueItems: true } } }, false).schema,
    ).toEqual({
      type: "object",
      properties: { tags: { type: "array" } },
    });
  });

  it("bounded numbers refer to exact range rules", () => {
    const prepared = prepareSchema(
      { type: "object", properties: { n: { type: "number", exclusiveMinimum: 0, maximum: 5.5 } } },
      true,
    );
    expect(prepared.schema).toEqual({
      type: "object",
      properties: { n: { $ref: "#/$defs/moxieRangeA" } },
      $defs: { moxieRangeA: { type: "integer" } },
    });
    expect(prepared.ranges.moxieRangeA).toBe(numericRangeRule(1, 5, true));
  });
});

describe("tool-call constraint", () => {
  const TOOL_CALLS = 5;
  it("force allows only [TOOL_CALLS] first, ban never allows it, auto allows all; then the grammar rules", async () => {
    const grammar = { allowed: async () => new Int32Array(2).fill(-1), accept: () => {}, release: () => {} };
    const force = new ToolCallConstraint(TOOL_CALLS, 64, "force", grammar);
    const first = await force.allowed();
    expect(Array.from({ length: 64 }, (_, token) => allowed(first, token)).filter(Boolean)).toHaveLength(1);
    expect(allowed(first, TOOL_CALLS)).toBe(true);
    expect(() => force.accept(7)).toThrow();
    force.accept(TOOL_CALLS);
    expect(await force.allowed()).toEqual(new Int32Array(2).fill(-1));

    const ban = new ToolCallConstraint(TOOL_CALLS, 64, "ban", undefined);
    const banned = await ban.allowed();
    expect(Array.from({ length: 64 }, (_, token) => allowed(banned, token)).filter((ok) => !ok)).toHaveLength(1);
    expect(allowed(banned, TOOL_CALLS)).toBe(false);
    expect(await new ToolCallConstraint(TOOL_CALLS, 64, "auto", grammar).allowed()).toBeUndefined();
  });
});
