// The shapes of the admin API's answers that the console reads, for tsc only (JSDoc; the browser
// never loads this file). Where the gateway has a zod schema the type is taken from it, so a changed
// field breaks the console's type-check rather than a page.

/** @typedef {import("../gateway/auth/key-record.ts").ApiKeyRecord} ApiKey */
/** @typedef {ApiKey & { key: string }} CreatedKey The answer to creating a key: the only time its secret is shown. */
/** @typedef {import("../gateway/models/model-definition.ts").ModelDefinition} Model */
/**
 * GET /admin/models: a catalog model, where it comes from (the MODELS var, saved over it, or saved
 * only: only saved ones can be deleted) and whether a healthy backend serves its deployment now.
 * @typedef {Model & { source: "configured" | "override" | "added", served: boolean }} CatalogModel
 */
/** @typedef {import("../protocol/errors.ts").ErrorBody} ErrorBody */
/** @typedef {import("../protocol/errors.ts").ValidationErrorBody} ValidationErrorBody */

/**
 * @template T
 * @typedef {{ data: T[] }} List A list answer (GET /admin/keys, /backends, /models, /usage).
 */

/** @typedef {import("../protocol/health.ts").BackendStatus} Backend GET /admin/backends */

/**
 * GET /admin/usage: one row per key, model and UTC day (the SQL query in gateway/admin/usage.ts).
 * @typedef {object} UsageRow
 * @property {string} key_id
 * @property {string} day
 * @property {string} model
 * @property {number} requests
 * @property {number} prompt_tokens
 * @property {number} completion_tokens
 * @property {number} total_tokens
 * @property {number} cost
 */

export {};
