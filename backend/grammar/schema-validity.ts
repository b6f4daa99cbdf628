import type { Schema } from "./schema-node.ts";
import { InvalidSchemaError } from "./schema-error.ts";
import { checkPatternLength } from "./schema-limits.ts";

/**
 * The checks that keep xgrammar (0.1.27) from aborting on a schema: every one of these mistakes
 * makes its compiler abort (measured), and an aborted WASM instance leaks until it breaks. So they
 * are refused up front, naming the keyword, and what reaches xgrammar is well-formed.
 */

const TYPES = new Set(["string", "number", "integer", "boolean", "object", "array", "null"]);
const COUNTS = ["minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"];
const RANGES = [
  ["minItems", "maxItems"],
  ["minLength", "maxLength"],
  ["minProperties", "maxProperties"],
] as const;

/**
 * Regex features xgrammar's converter lacks though ECMAScript has them (measured): lookaround,
 * backreferences, word boundaries, Unicode property classes, inline flags. Matched outside
 * character classes, after escapes are paired.
 */
const UNSUPPORTED_REGEX: [RegExp, string][] = [
  [/^\(\?<?[=!]/, "lookahead and lookbehind"],
  [/^\\([1-9]|k<)/, "backreferences"],
  [/^\\[bB]/, "word boundaries"],
  [/^\\[pP]/, "Unicode property classes"],
  [/^\(\?[a-zA-Z-]/, "inline flags"],
  // xgrammar reads a "{" as a repetition, which JS's legacy syntax would take literally.
  [/^\{(?!\d+(,\d*)?\})/, "a literal { (escape it as \\{)"],
];

/** Refuses a pattern xgrammar cannot compile: not a regex, or one using what its converter lacks. */
export function checkPattern(pattern: unknown, keyword: string, path: string): void {
  if (typeof pattern !== "string") throw new InvalidSchemaError(keyword, path, "must be a string");
  checkPatternLength(pattern, keyword, path);
  try {
    // The legacy (non-`u`) syntax: xgrammar, like it, takes "a]" or "\-" literally.
    new RegExp(pattern);
  } catch (error) {
    throw new InvalidSchemaError(keyword, path, `is not a valid regular expression (${(error as Error).message})`);
  }
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const rest = pattern.slice(i);
    if (!inClass)
      for (const [feature, name] of UNSUPPORTED_REGEX)
        if (feature.test(rest)) throw new InvalidSchemaError(keyword, path, `uses ${name}, which is not supported`);
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "[") inClass = true;
    else if (pattern[i] === "]") inClass = false;
  }
}

const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;

/**
 * Refuses a subschema whose keywords are malformed (a count that is not a non-negative integer,
 * an unknown type, an empty enum or anyOf, `required` that is not a list of names) or contradict
 * each other (a minimum above its maximum, more items or properties required than a closed array
 * or object can have). Objects are closed unless additionalProperties says otherwise, as the
 * grammars compile them.
 */
export function checkSubschema(schema: Schema, path: string): void {
  for (const keyword of COUNTS)
    if (schema[keyword] !== undefined && !isCount(schema[keyword]))
      throw new InvalidSchemaError(keyword, path, "must be a non-negative integer");
  for (const [low, high] of RANGES)
    if (schema[low] !== undefined && schema[high] !== undefined && (schema[low] as number) > (schema[high] as number))
      throw new InvalidSchemaError(low, path, `is greater than ${high}`);
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  for (const type of types)
    if (!TYPES.has(type as string))
      throw new InvalidSchemaError("type", path, `${JSON.stringify(type)} is not a JSON schema type`);
  for (const keyword of ["enum", "anyOf", "oneOf", "allOf", "prefixItems"])
    if (schema[keyword] !== undefined && !(Array.isArray(schema[keyword]) && schema[keyword].length > 0))
      throw new InvalidSchemaError(keyword, path, "must be a non-empty list");
  if (
    schema.required !== undefined &&
    !(Array.isArray(schema.required) && schema.required.every((name) => typeof name === "string"))
  )
    throw new InvalidSchemaError("required", path, "must be a list of property names");
  if (schema.$ref !== undefined && typeof schema.$ref !== "string")
    throw new InvalidSchemaError("$ref", path, "must be a string");
  const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems.length : 0;
  if (schema.items === false && ((schema.minItems as number | undefined) ?? 0) > prefix)
    throw new InvalidSchemaError("minItems", path, `is greater than the ${prefix} prefixItems, and items is false`);
  const closed = !schema.additionalProperties && schema.patternProperties === undefined;
  const named = Object.keys((schema.properties as Schema | undefined) ?? {}).length;
  if (closed && ((schema.minProperties as number | undefined) ?? 0) > named)
    throw new InvalidSchemaError(
      "minProperties",
      path,
      `is greater than the ${named} properties a closed object can have (allow more with additionalProperties)`,
    );
  const names = schema.propertyNames as Schema | undefined;
  if (names?.type !== undefined && names.type !== "string")
    throw new InvalidSchemaError("propertyNames", path, 'must describe strings ("type": "string")');
}
