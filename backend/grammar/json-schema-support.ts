import { RequestError } from "../request-error.ts";
import { isSchema, type Schema } from "./schema-node.ts";
import { numericRangeRule } from "./numeric-range.ts";
import { InvalidSchemaError, UnsupportedSchemaError } from "./schema-error.ts";
import { checkDepth, checkSchemaBytes, SchemaTally } from "./schema-limits.ts";
import { checkReferences } from "./schema-references.ts";
import { checkPattern, checkSubschema } from "./schema-validity.ts";

/**
 * The JSON Schema subset constrained decoding enforces. xgrammar (0.1.27) silently ignores the
 * keywords it cannot express (measured: multipleOf, not, if/then/else, uniqueItems, contains,
 * maxProperties, dependentRequired, unevaluated*), so a schema using them would yield documents
 * that fail it: such a schema is refused, naming the keyword, unless the client asked for
 * `strict: false`, which drops them. A schema that could never compile, or one past a limit, is
 * refused either way (InvalidSchemaError).
 */

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

/** How a schema is being prepared: whether unsupported keywords are refused, the ranges found, the totals counted. */
interface Preparation {
  strict: boolean;
  ranges: Record<string, string>;
  tally: SchemaTally;
}

/** Whether preparing goes on without what failed: an unsupported keyword under `strict: false`. */
const droppable = (error: unknown, strict: boolean) =>
  !strict && error instanceof UnsupportedSchemaError && !(error instanceof InvalidSchemaError);

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
function numericRange(schema: Schema, path: string, { ranges, tally }: Preparation): Schema {
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
  if (minimum !== undefined && maximum !== undefined && minimum > maximum)
    throw new InvalidSchemaError("minimum", path, "is greater than maximum");
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
  tally.add("numericRanges", 1, bounds[0], path);
  const name = rangeName(Object.keys(ranges).length);
  ranges[name] = numericRangeRule(low, high, schema.type === "number");
  return { $ref: `#/$defs/${name}` };
}

/**
 * The schema as the grammar compiler gets it; throws UnsupportedSchemaError (unless `strict` is
 * false) and InvalidSchemaError.
 */
export function prepareSchema(schema: unknown, strict: boolean): PreparedSchema {
  checkSchemaBytes(schema);
  const preparation: Preparation = { strict, ranges: {}, tally: new SchemaTally() };
  const prepared = prepareSubschema(schema, "#", 0, preparation);
  const { ranges } = preparation;
  const placeholders = Object.fromEntries(Object.keys(ranges).map((name) => [name, { type: "integer" }]));
  const root = isSchema(prepared) ? prepared : {};
  const withPlaceholders =
    Object.keys(ranges).length === 0
      ? prepared
      : { ...root, $defs: { ...(root.$defs as Schema | undefined), ...placeholders } };
  checkReferences(withPlaceholders);
  return { schema: withPlaceholders, ranges };
}

/**
 * prepareSchema for the schema of a request field: a schema it refuses refuses the request (400
 * unsupported_schema), naming the field; `describe` words the message for the field.
 */
export function prepareRequestSchema(
  schema: unknown,
  strict: boolean,
  param: string,
  describe = (message: string) => message,
): PreparedSchema {
  try {
    return prepareSchema(schema, strict);
  } catch (error) {
    if (error instanceof UnsupportedSchemaError)
      throw new RequestError("unsupported_schema", describe(error.message), param);
    throw error;
  }
}

function prepareSubschema(schema: unknown, path: string, depth: number, preparation: Preparation): unknown {
  if (typeof schema === "boolean") return schema;
  if (!isSchema(schema)) throw new UnsupportedSchemaError("(schema)", path, "must be an object or a boolean");
  checkDepth(depth, path);
  const { strict, tally } = preparation;
  const sub = (value: unknown, at: string) => prepareSubschema(value, at, depth + 1, preparation);
  const prepared: Schema = {};
  let withRanges: Schema;
  try {
    withRanges = numericRange(schema, path, preparation);
  } catch (error) {
    if (!droppable(error, strict)) throw error;
    withRanges = Object.fromEntries(
      Object.entries(schema).filter(([keyword]) => !(BOUNDS as readonly string[]).includes(keyword)),
    );
  }
  for (const [keyword, value] of Object.entries(withRanges)) {
    const at = `${path}/${keyword}`;
    try {
      if (SCHEMA_MAPS.has(keyword) && isSchema(value)) {
        if (keyword === "properties") tally.add("properties", Object.keys(value).length, keyword, path);
        if (keyword === "patternProperties") for (const name of Object.keys(value)) checkPattern(name, keyword, path);
        prepared[keyword] = Object.fromEntries(
          Object.entries(value).map(([name, subschema]) => [name, sub(subschema, `${at}/${name}`)]),
        );
      } else if (SUBSCHEMAS.has(keyword)) {
        prepared[keyword] = sub(value, at);
      } else if (SCHEMA_LISTS.has(keyword) && Array.isArray(value)) {
        if (keyword === "allOf" && value.length > 1)
          throw new UnsupportedSchemaError(keyword, path, "with more than one schema is not supported");
        prepared[keyword] = value.map((subschema, i) => sub(subschema, `${at}/${i}`));
      } else if (keyword === "format" && !FORMATS.has(String(value))) {
        throw new UnsupportedSchemaError(
          keyword,
          path,
          `"${String(value)}" is not supported (supported: ${[...FORMATS].join(", ")})`,
        );
      } else if (PLAIN.has(keyword)) {
        if (keyword === "pattern") checkPattern(value, keyword, path);
        if (keyword === "enum" && Array.isArray(value)) tally.add("enumMembers", value.length, keyword, path);
        prepared[keyword] = value;
      } else {
        throw new UnsupportedSchemaError(keyword, path);
      }
    } catch (error) {
      if (!droppable(error, strict)) throw error;
    }
  }
  checkSubschema(prepared, path);
  return prepared;
}
