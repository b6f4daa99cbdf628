// What is refused before xgrammar sees a schema (issue 20): schemas it aborts on, schemas past the
// limits, and recursion with no way out. Refused whatever `strict` says.
import { describe, expect, it } from "vitest";
import { prepareSchema } from "../../backend/grammar/json-schema-support.ts";
import { InvalidSchemaError } from "../../backend/grammar/schema-error.ts";
import { SCHEMA_LIMITS } from "../../backend/grammar/schema-limits.ts";

/** Both strict modes refuse it with an InvalidSchemaError whose message matches. */
function refused(schema: unknown, message: RegExp): void {
  for (const strict of [true, false]) {
    let error: unknown;
    try {
      prepareSchema(schema, strict);
    } catch (thrown) {
      error = thrown;
    }
    expect(error, JSON.stringify(schema).slice(0, 200)).toBeInstanceOf(InvalidSchemaError);
    expect((error as Error).message).toMatch(message);
  }
}

const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: "object",
  properties,
  ...extra,
});

describe("schemas xgrammar aborts on", () => {
  it.each([
    [{ type: "string", pattern: "([" }, /"pattern" at # is not a valid regular expression/],
    [{ type: "string", pattern: "a{3,1}" }, /"pattern".*not a valid regular expression/],
    [{ type: "string", pattern: "(?=a)b" }, /"pattern".*lookahead/],
    [{ type: "string", pattern: "(a)\\1" }, /"pattern".*backreferences/],
    [{ type: "string", pattern: "\\bword" }, /"pattern".*word boundaries/],
    [{ type: "string", pattern: "\\p{L}" }, /"pattern".*Unicode property/],
    [{ type: "string", pattern: "(?i)abc" }, /"pattern" at # (is not a valid regular expression|uses inline flags)/],
    [{ type: "string", pattern: "a{" }, /"pattern".*literal \{/],
    [{ type: "string", pattern: 5 }, /"pattern".*must be a string/],
    [object({}, { patternProperties: { "([": {} } }), /"patternProperties".*not a valid regular expression/],
    [{ $ref: "#/$defs/missing" }, /"\$ref" at # "#\/\$defs\/missing" points to nothing/],
    [object({ a: { $ref: "other.json#/a" } }), /"\$ref" at #\/properties\/a .*points to nothing/],
    [{ type: "array", minItems: 3, maxItems: 1 }, /"minItems" at # is greater than maxItems/],
    [{ type: "string", minLength: 5, maxLength: 2 }, /"minLength" at # is greater than maxLength/],
    [{ type: "integer", minimum: 10, maximum: 1 }, /"minimum" at # is greater than maximum/],
    [{ type: "array", minItems: 1.5 }, /"minItems".*non-negative integer/],
    [{ type: "array", minItems: "2" }, /"minItems".*non-negative integer/],
    [{ type: "array", prefixItems: [{ type: "integer" }], items: false, minItems: 3 }, /"minItems".*prefixItems/],
    [object({ a: {} }, { minProperties: 3 }), /"minProperties".*closed object/],
    [{ type: "foo" }, /"type".*"foo" is not a JSON schema type/],
    [{ enum: [] }, /"enum".*non-empty list/],
    [{ anyOf: [] }, /"anyOf".*non-empty list/],
    [object({}, { required: "a" }), /"required".*list of property names/],
    [object({}, { propertyNames: { type: "integer" } }), /"propertyNames".*strings/],
  ])("%j is refused", (schema, message) => refused(schema, message));

  it("a valid pattern, escapes and bounded repetitions included, passes", () => {
    for (const pattern of ["^[a-z]{2,8}$", "a\\-b", "a]", "\\d+(\\.\\d{1,2})?", "[\\b]", "(?:ab)+", "(?<name>x)"])
      expect(() => prepareSchema({ type: "string", pattern }, true), pattern).not.toThrow();
  });
});

describe("recursion", () => {
  it.each([
    [{ $ref: "#" }],
    [object({ next: { $ref: "#" } }, { required: ["next"] })],
    [{ $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" }],
    [{ $defs: { node: object({ child: { $ref: "#/$defs/node" } }, { required: ["child"] }) }, $ref: "#/$defs/node" }],
    [{ type: "array", minItems: 1, items: { $ref: "#" } }],
    [object({ a: {} }, { required: ["b"] })],
  ])("%j, which has no finite document, is refused", (schema) => refused(schema, /no finite document/));

  it("recursion with a base case passes: optional children, an empty list, a null alternative", () => {
    const tree = { $defs: { node: object({ children: { type: "array", items: { $ref: "#/$defs/node" } } }) } };
    for (const schema of [
      { ...tree, $ref: "#/$defs/node" },
      object({ next: { $ref: "#" } }),
      object({ next: { anyOf: [{ type: "null" }, { $ref: "#" }] } }, { required: ["next"] }),
      object({ next: { type: ["object", "null"], $ref: "#/properties/value" }, value: { type: "integer" } }),
      { type: "array", items: { $ref: "#" } },
    ])
      expect(() => prepareSchema(schema, true), JSON.stringify(schema)).not.toThrow();
  });
});

describe("limits", () => {
  const many = (count: number, make: (i: number) => unknown) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, make(i)]));

  it("each limit refuses one past it, naming the limit, and allows one at it", () => {
    const limits = SCHEMA_LIMITS;
    // Bytes: one long description.
    const bytes = (size: number) => ({ type: "string", description: "x".repeat(size - 34) });
    expect(JSON.stringify(bytes(limits.bytes)).length).toBe(limits.bytes);
    expect(() => prepareSchema(bytes(limits.bytes), true)).not.toThrow();
    refused(bytes(limits.bytes + 1), new RegExp(`${limits.bytes + 1} bytes.*limit of ${limits.bytes} bytes`));

    const properties = (count: number) => object(many(count, () => true));
    expect(() => prepareSchema(properties(limits.properties), true)).not.toThrow();
    refused(properties(limits.properties + 1), new RegExp(`limit of ${limits.properties} properties`));

    const enums = (count: number) => object(many(2, () => ({ enum: Array.from({ length: count / 2 }, (_, i) => i) })));
    expect(() => prepareSchema(enums(limits.enumMembers), true)).not.toThrow();
    refused(enums(limits.enumMembers + 2), new RegExp(`limit of ${limits.enumMembers} enum members`));

    const pattern = (length: number) => ({ type: "string", pattern: "a".repeat(length) });
    expect(() => prepareSchema(pattern(limits.patternLength), true)).not.toThrow();
    refused(
      pattern(limits.patternLength + 1),
      new RegExp(`${limits.patternLength + 1} characters.*limit of ${limits.patternLength}`),
    );

    const nested = (depth: number): unknown => (depth === 0 ? true : { type: "array", items: nested(depth - 1) });
    expect(() => prepareSchema(nested(limits.depth + 1), true)).not.toThrow();
    refused(
      nested(limits.depth + 2),
      new RegExp(`nested ${limits.depth + 1} subschemas deep.*limit of ${limits.depth}`),
    );

    const ranges = (count: number) => object(many(count, (i) => ({ type: "integer", minimum: 0, maximum: i })));
    expect(() => prepareSchema(ranges(limits.numericRanges), true)).not.toThrow();
    refused(
      object(
        { ...many(limits.numericRanges, () => ({ type: "integer", maximum: 1 })) },
        { $defs: { x: { type: "integer", minimum: 1 } } },
      ),
      new RegExp(`limit of ${limits.numericRanges} bounded numbers`),
    );
  });
});
