/** A schema keyword constrained decoding cannot enforce: refused, naming it, unless the request says `strict: false`, which drops it. */
export class UnsupportedSchemaError extends Error {
  constructor(
    readonly keyword: string,
    readonly path: string,
    reason = "is not supported by constrained decoding",
  ) {
    super(`JSON schema keyword "${keyword}" at ${path} ${reason}`);
  }
}

/**
 * A schema no grammar can be compiled from (a bad pattern, a dangling $ref, minItems > maxItems,
 * recursion with no way out), or one past a limit (schema-limits.ts): refused whatever `strict`
 * says, before xgrammar sees it, since xgrammar aborts on the former and the latter could stall it.
 */
export class InvalidSchemaError extends UnsupportedSchemaError {}
