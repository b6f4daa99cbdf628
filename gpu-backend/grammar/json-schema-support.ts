import { numericRangeRule } from "./numeric-range.ts";

/**
 * The JSON Schema subset constrained decoding enforces. xgrammar (0.1.27) silently ignores the
 * keywords it cannot express (measured: multipleOf, not, if/then/else, uniqueItems, contains,
 * maxProperties, dependentRequired, unevaluated*), so a schema using them would yield documents
 * that fail it: such a schema is refused, naming the keyword, unless the client asked for
 * `strict: false`, which drops them.
 */

export class UnsupportedSchemaError extends Error {
  constructor(
    readonly keyword: string,
    readonly path: string,
    reason = "is not supported by constrained decoding",
  ) {
    super(`JSON schema keyword "${keyword}" at ${path} ${reason}`);
  }
}

/** Keywords whose value is a map of name → subschema. */
const SCHEMA_MAPS = new Set(["properties", "$defs", "definitions", "patternProperties"]);
/** Keywords whose value is one subschema. */
const SUBSCHEMAS = new Set(["items", "additionalProperties", "propertyNames"]);
/** Keywords whose value is a list of subschemas. */
const SCHEMA_LISTS = new Set(["anyOf", "oneOf", "allOf", "prefixItems"]);
/** Keywords enforced as they are, and annotations that constrain nothing. */
const PLAIN = new Set([
  "type",
  "required",
  "enum",
  "const",
  "$ref",
  "nullable",
  "minItems",
  "maxItems",
  "minProperties",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "title",
  "description",
  "default",
  "examples",
  "$comment",
  "$schema",
  "$id",
  "deprecated",
  "readOnly",
  "writeOnly",
]);
const FORMATS = new Set([
  "date",
  "time",
  "date-time",
  "duration",
  "email",
  "hostname",
  "ipv4",
  "ipv6",
  "uri",
  "uri-reference",
  "uuid",
]);
const BOUNDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const;

type Schema = Record<string, unknown>;
const isSchema = (value: unknown): value is Schema =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A schema ready for the grammar compiler, with the EBNF of the numeric ranges it refers to by name. */
export interface PreparedSchema {
  schema: unknown;
  /** Rule name (a $defs entry the schema refers to) → EBNF body, which replaces xgrammar's own rule. */
  ranges: Record<string, string>;
}

/** $defs names xgrammar keeps as they are (it drops trailing digits): moxieRangeA, moxieRangeB, …, moxieRangeBA. */
function rangeName(index: number): string {
  let name = "";
  do {
    name = String.fromCharCode(65 + (index % 26)) + name;
    index = Math.floor(index / 26);
  } while (index > 0);
  return `moxieRange${name}`;
}

/**
 * A bounded number or integer becomes a reference to a rule of its own (numeric-range.ts), since
 * xgrammar's range rules admit values past the bounds. Bounds become inclusive integers: a
 * fractional or exclusive bound is moved inward to the next integer.
 */
function numericRange(schema: Schema, path: string, ranges: Record<string, string>): Schema {
  const bounds = BOUNDS.filter((bound) => schema[bound] !== undefined);
  if (bounds.length === 0) return schema;
  if (schema.type !== "number" && schema.type !== "integer")
    throw new UnsupportedSchemaError(bounds[0], path, 'is supported with "type": "number" or "integer" alone');
  for (const bound of bounds)
    if (typeof schema[bound] !== "number") throw new UnsupportedSchemaError(bound, path, "must be a number");
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = schema as Record<
    (typeof BOUNDS)[number],
    number | undefined
  >;
  const low = Math.max(
    minimum === undefined ? -Infinity : Math.ceil(minimum),
    exclusiveMinimum === undefined ? -Infinity : Math.floor(exclusiveMinimum) + 1,
  );
  const high = Math.min(
    maximum === undefined ? Infinity : Math.floor(maximum),
    exclusiveMaximum === undefined ? Infinity : Math.ceil(exclusiveMaximum) - 1,
  );
  if (low > high)
    throw new UnsupportedSchemaError(
      bounds[0],
      path,
      "leaves no integer in range (ranges between two integers are not supported)",
    );
  const name = rangeName(Object.keys(ranges).length);
  ranges[name] = numericRangeRule(low, high, schema.type === "number");
  return { $ref: `#/$defs/${name}` };
}

/** The schema as the grammar compiler gets it; throws UnsupportedSchemaError unless `strict` is false. */
export function prepareSchema(schema: unknown, strict: boolean): PreparedSchema {
  const ranges: Record<string, string> = {};
  const prepared = prepareSubschema(schema, strict, "#", ranges);
  if (Object.keys(ranges).length === 0) return { schema: prepared, ranges };
  const placeholders = Object.fromEntries(Object.keys(ranges).map((name) => [name, { type: "integer" }]));
  const root = isSchema(prepared) ? prepared : {};
  return { schema: { ...root, $defs: { ...(root.$defs as Schema | undefined), ...placeholders } }, ranges };
}

function prepareSubschema(schema: unknown, strict: boolean, path: string, ranges: Record<string, string>): unknown {
  if (typeof schema === "boolean") return schema;
  if (!isSchema(schema)) throw new UnsupportedSchemaError("(schema)", path, "must be an object or a boolean");
  const prepared: Schema = {};
  let withRanges: Schema;
  try {
    withRanges = numericRange(schema, path, ranges);
  } catch (error) {
    if (strict || !(error instanceof UnsupportedSchemaError)) throw error;
    withRanges = Object.fromEntries(
      Object.entries(schema).filter(([keyword]) => !(BOUNDS as readonly string[]).includes(keyword)),
    );
  }
  for (const [keyword, value] of Object.entries(withRanges)) {
    const at = `${path}/${keyword}`;
    try {
      if (SCHEMA_MAPS.has(keyword) && isSchema(value)) {
        prepared[keyword] = Object.fromEntries(
          Object.entries(value).map(([name, sub]) => [name, prepareSubschema(sub, strict, `${at}/${name}`, ranges)]),
        );
      } else if (SUBSCHEMAS.has(keyword)) {
        prepared[keyword] = prepareSubschema(value, strict, at, ranges);
      } else if (SCHEMA_LISTS.has(keyword) && Array.isArray(value)) {
        if (keyword === "allOf" && value.length > 1)
          throw new UnsupportedSchemaError(keyword, path, "with more than one schema is not supported");
        prepared[keyword] = value.map((sub, i) => prepareSubschema(sub, strict, `${at}/${i}`, ranges));
      } else if (keyword === "format" && !FORMATS.has(String(value))) {
        throw new UnsupportedSchemaError(
          keyword,
          path,
          `"${String(value)}" is not supported (supported: ${[...FORMATS].join(", ")})`,
        );
      } else if (PLAIN.has(keyword)) {
        prepared[keyword] = value;
      } else {
        throw new UnsupportedSchemaError(keyword, path);
      }
    } catch (error) {
      if (strict || !(error instanceof UnsupportedSchemaError)) throw error;
    }
  }
  return prepared;
}
