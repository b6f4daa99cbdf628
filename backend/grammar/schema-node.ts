/** A JSON-schema object (not a boolean schema) as the schema checks and preparation walk it. */
export type Schema = Record<string, unknown>;

export const isSchema = (value: unknown): value is Schema =>
  typeof value === "object" && value !== null && !Array.isArray(value);
