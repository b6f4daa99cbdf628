import { isSchema, type Schema } from "./schema-node.ts";
import { InvalidSchemaError } from "./schema-error.ts";

/**
 * $ref checks on a prepared schema: every reference must point into the schema (xgrammar aborts
 * on one that does not), and the schema must allow a finite document. xgrammar compiles a
 * recursion with no way out ({"$ref": "#"}, or a required property that refers back to its
 * object) into a grammar no token can complete, so such a schema is refused; recursion with a
 * base case (a tree whose children are optional) is fine.
 */

/** The subschema a local reference ("#", "#/$defs/name", "#/properties/a/items") points to; undefined if none. */
function resolve(root: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined;
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let node = root;
  for (const part of ref.slice(2).split("/")) {
    const key = decodeURIComponent(part).replaceAll("~1", "/").replaceAll("~0", "~");
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Schema)[key];
  }
  return node;
}

/** Every $ref of the schema (its first place). */
function references(schema: unknown, path: string, found: Map<string, string>): void {
  if (Array.isArray(schema)) schema.forEach((item, i) => references(item, `${path}/${i}`, found));
  if (!isSchema(schema)) return;
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === "$ref" && typeof value === "string") {
      if (!found.has(value)) found.set(value, path);
    } else if (keyword !== "enum" && keyword !== "const") references(value, `${path}/${keyword}`, found);
  }
}

/**
 * Whether some finite document is valid against the schema, given which references are known to
 * lead to one. Mirrors what xgrammar generates: a $ref replaces its siblings, an object must hold
 * its required properties (closed unless additionalProperties says otherwise), an array its
 * minItems; a schema with no type but object or array keywords is that kind.
 */
function finite(schema: unknown, refs: Map<string, boolean>): boolean {
  if (typeof schema === "boolean") return schema;
  if (!isSchema(schema)) return true;
  if (typeof schema.$ref === "string") return refs.get(schema.$ref) ?? false;
  const some = (list: unknown) => !Array.isArray(list) || list.some((sub) => finite(sub, refs));
  if (!some(schema.anyOf) || !some(schema.oneOf)) return false;
  if (Array.isArray(schema.allOf) && !schema.allOf.every((sub) => finite(sub, refs))) return false;
  const object = () =>
    ((schema.required as string[] | undefined) ?? []).every((name) => {
      const properties = (schema.properties as Schema | undefined) ?? {};
      const patterns = Object.entries((schema.patternProperties as Schema | undefined) ?? {});
      const sub = Object.hasOwn(properties, name)
        ? properties[name]
        : (patterns.find(([pattern]) => new RegExp(pattern).test(name))?.[1] ?? schema.additionalProperties ?? false);
      return finite(sub, refs);
    });
  const array = () => {
    const minItems = (schema.minItems as number | undefined) ?? 0;
    const prefix = (schema.prefixItems as unknown[] | undefined) ?? [];
    return (
      prefix.slice(0, minItems).every((sub) => finite(sub, refs)) &&
      (minItems <= prefix.length || finite(schema.items ?? true, refs))
    );
  };
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  if (types.length > 0) return types.some((type) => (type === "object" ? object() : type === "array" ? array() : true));
  if ("properties" in schema || "required" in schema) return object();
  if ("items" in schema || "prefixItems" in schema || "minItems" in schema) return array();
  return true;
}

/** Refuses a schema with a dangling or non-local $ref, or whose references recurse with no way out. */
export function checkReferences(schema: unknown): void {
  const found = new Map<string, string>();
  references(schema, "#", found);
  const refs = new Map<string, boolean>();
  for (const [ref, path] of found) {
    if (resolve(schema, ref) === undefined)
      throw new InvalidSchemaError("$ref", path, `${JSON.stringify(ref)} points to nothing in the schema`);
    refs.set(ref, false);
  }
  // The least fixpoint: a reference leads to a finite document once its target does, given the others found so far.
  for (let changed = true; changed;) {
    changed = false;
    for (const [ref, known] of refs)
      if (!known && finite(resolve(schema, ref), refs)) {
        refs.set(ref, true);
        changed = true;
      }
  }
  if (!finite(schema, refs)) {
    const [ref, path] = [...found].find(([name]) => !refs.get(name)) ?? ["#", "#"];
    throw new InvalidSchemaError(
      "$ref",
      path,
      `(${JSON.stringify(ref)}) recurses with no way out: no finite document is valid against the schema (give the recursion a base case, such as an optional property)`,
    );
  }
}
