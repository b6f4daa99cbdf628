// The shapes of the admin API's answers that the console reads, for tsc only (JSDoc; the browser
// never loads this file). Where the gateway has a zod schema the type is taken from it, so a changed
// field breaks the console's type-check rather than a page.

/** @typedef {import("../gateway/auth/key-record.ts").ApiKeyRecord} ApiKey */
/** @typedef {ApiKey & import("../gateway/admin/key-activity.ts").KeyActivity} ListedKey GET /admin/keys: a key with its last use and current spend. */
/** @typedef {ApiKey & { key: string }} CreatedKey The answer to creating a key: the only time its secret is shown. */
/** @typedef {import("../gateway/models/model-definition.ts").ModelDefinition} Model */
/**
 * GET /admin/models: a catalog model, where it comes from (the MODELS var, saved over it, or saved
 * only: only saved ones can be deleted) and whether a healthy backend serves its deployment now.
 * @typedef {Model & { source: import("../gateway/admin/source.ts").Source, served: boolean }} CatalogModel
 */
/** @typedef {import("../protocol/errors.ts").ErrorBody} ErrorBody */
/** @typedef {import("../protocol/errors.ts").ValidationErrorBody} ValidationErrorBody */

/**
 * @template T
 * @typedef {{ data: T[] }} List A list answer (GET /admin/keys, /backends, /models, /usage).
 */

/**
 * GET /admin/backends: the pool's view of a backend and where it comes from (only saved ones can be
 * removed; removing an override brings back the BACKENDS entry it replaced).
 * @typedef {import("../protocol/health.ts").BackendStatus & { source: import("../gateway/admin/source.ts").Source }} Backend
 */

/** @typedef {import("../gateway/logs/logged-request.ts").LoggedRequest} LoggedRequest One row of the request log */
/** @typedef {import("../gateway/logs/logged-request.ts").LogPage} LogPage GET /admin/logs */
/** @typedef {import("../gateway/logs/logged-request.ts").LogDetail} LogDetail GET /admin/logs/:id */
/** @typedef {import("../gateway/logs/dashboard-answer.ts").Dashboard} Dashboard GET /admin/dashboard */

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
