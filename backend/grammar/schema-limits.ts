import { InvalidSchemaError } from "./schema-error.ts";

/**
 * What one schema (a response_format's, or a request's tools' parameters together) may hold,
 * checked while it is prepared, before xgrammar sees it. A grammar's compile time grows with each
 * of these, and while one compiles the grammar thread serves no masks, so the limits keep the
 * largest schema allowed well inside the compile budget (grammar-pool.ts; README "Limits").
 */
export const SCHEMA_LIMITS = {
  /** The schema as JSON, in UTF-8 bytes. */
  bytes: 64 * 1024,
  /** Names under `properties`, all objects together. */
  properties: 1024,
  /** Members of `enum` lists, all together. */
  enumMembers: 1024,
  /** Characters of one `pattern`, or of one `patternProperties` name. */
  patternLength: 1000,
  /** Subschemas within subschemas. */
  depth: 32,
  /** Numbers with a minimum or maximum: each becomes a grammar rule of its own. */
  numericRanges: 1024,
} as const;

type Total = "properties" | "enumMembers" | "numericRanges";
const TOTAL_NAMES: Record<Total, string> = {
  properties: "properties",
  enumMembers: "enum members",
  numericRanges: "bounded numbers",
};

/** Refuses a schema whose JSON is over SCHEMA_LIMITS.bytes. */
export function checkSchemaBytes(schema: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(schema) ?? "");
  if (bytes > SCHEMA_LIMITS.bytes)
    throw new InvalidSchemaError(
      "(schema)",
      "#",
      `is ${bytes} bytes as JSON, over the limit of ${SCHEMA_LIMITS.bytes} bytes per schema`,
    );
}

/** Refuses a subschema nested deeper than SCHEMA_LIMITS.depth. */
export function checkDepth(depth: number, path: string): void {
  if (depth > SCHEMA_LIMITS.depth)
    throw new InvalidSchemaError(
      "(schema)",
      path,
      `is nested ${depth} subschemas deep, over the limit of ${SCHEMA_LIMITS.depth}`,
    );
}

/** Refuses a pattern longer than SCHEMA_LIMITS.patternLength. */
export function checkPatternLength(pattern: string, keyword: string, path: string): void {
  if (pattern.length > SCHEMA_LIMITS.patternLength)
    throw new InvalidSchemaError(
      keyword,
      path,
      `has a pattern of ${pattern.length} characters, over the limit of ${SCHEMA_LIMITS.patternLength}`,
    );
}

/** A schema's running totals of what SCHEMA_LIMITS counts across all its subschemas. */
export class SchemaTally {
  private readonly totals: Record<Total, number> = { properties: 0, enumMembers: 0, numericRanges: 0 };

  /** Adds `count` to a total; refuses the schema, naming the keyword that crossed it, once it is over its limit. */
  add(total: Total, count: number, keyword: string, path: string): void {
    this.totals[total] += count;
    if (this.totals[total] > SCHEMA_LIMITS[total])
      throw new InvalidSchemaError(
        keyword,
        path,
        `takes the schema past its limit of ${SCHEMA_LIMITS[total]} ${TOTAL_NAMES[total]} in all`,
      );
  }
}
