import type { ApiKeyRecord, KeyLimits } from "./key-record.ts";

/** D1 access for API keys. Rows keep limits as columns and allowed models as JSON. */
interface KeyRow {
  id: string;
  name: string;
  key_prefix: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  allowed_models: string | null;
  cache_scope: string | null;
  log_bodies: number;
  rpm: number | null;
  tpm: number | null;
  max_concurrent: number | null;
  monthly_token_budget: number | null;
  max_budget: number | null;
  budget_period: KeyLimits["budget_period"];
}

const COLUMNS =
  "id, name, key_prefix, created_at, revoked_at, expires_at, allowed_models, cache_scope, log_bodies, rpm, tpm, max_concurrent, monthly_token_budget, max_budget, budget_period";

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    key_prefix: row.key_prefix,
    created_at: row.created_at,
    revoked_at: row.revoked_at,
    expires_at: row.expires_at,
    allowed_models: row.allowed_models === null ? null : (JSON.parse(row.allowed_models) as string[]),
    cache_scope: row.cache_scope,
    log_bodies: row.log_bodies === 1,
    limits: {
      rpm: row.rpm,
      tpm: row.tpm,
      max_concurrent: row.max_concurrent,
      monthly_token_budget: row.monthly_token_budget,
      max_budget: row.max_budget,
      budget_period: row.budget_period,
    },
  };
}

export interface NewKey {
  name: string;
  keyHash: string;
  keyPrefix: string;
  expiresAt: string | null;
  allowedModels: string[] | null;
  cacheScope: string | null;
  logBodies: boolean;
  limits: KeyLimits;
}

export async function insertKey(db: D1Database, key: NewKey): Promise<ApiKeyRecord> {
  const id = `key_${crypto.randomUUID().replace(/-/g, "")}`;
  const { rpm, tpm, max_concurrent, monthly_token_budget, max_budget, budget_period } = key.limits;
  const row = await db
    .prepare(
      `INSERT INTO api_keys (id, name, key_hash, key_prefix, created_at, expires_at, allowed_models, cache_scope, log_bodies, rpm, tpm, max_concurrent, monthly_token_budget, max_budget, budget_period)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
    )
    .bind(
      id,
      key.name,
      key.keyHash,
      key.keyPrefix,
      new Date().toISOString(),
      key.expiresAt,
      key.allowedModels && JSON.stringify(key.allowedModels),
      key.cacheScope,
      Number(key.logBodies),
      rpm,
      tpm,
      max_concurrent,
      monthly_token_budget,
      max_budget,
      budget_period,
    )
    .first<KeyRow>();
  return toRecord(row!);
}

export async function findKeyByHash(db: D1Database, keyHash: string): Promise<ApiKeyRecord | null> {
  const row = await db.prepare(`SELECT ${COLUMNS} FROM api_keys WHERE key_hash = ?`).bind(keyHash).first<KeyRow>();
  return row && toRecord(row);
}

export async function getKey(db: D1Database, id: string): Promise<ApiKeyRecord | null> {
  const row = await db.prepare(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`).bind(id).first<KeyRow>();
  return row && toRecord(row);
}

export async function listKeys(db: D1Database): Promise<ApiKeyRecord[]> {
  const { results } = await db.prepare(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`).all<KeyRow>();
  return results.map(toRecord);
}

export interface KeyChanges {
  name?: string;
  expiresAt?: string | null;
  allowedModels?: string[] | null;
  cacheScope?: string | null;
  logBodies?: boolean;
  limits?: Partial<KeyLimits>;
}

export async function updateKey(db: D1Database, id: string, changes: KeyChanges): Promise<ApiKeyRecord | null> {
  const assignments: string[] = [];
  const values: unknown[] = [];
  const set = (column: string, value: unknown) => {
    assignments.push(`${column} = ?`);
    values.push(value);
  };
  if (changes.name !== undefined) set("name", changes.name);
  if (changes.expiresAt !== undefined) set("expires_at", changes.expiresAt);
  if (changes.allowedModels !== undefined)
    set("allowed_models", changes.allowedModels && JSON.stringify(changes.allowedModels));
  if (changes.cacheScope !== undefined) set("cache_scope", changes.cacheScope);
  if (changes.logBodies !== undefined) set("log_bodies", Number(changes.logBodies));
  for (const [column, value] of Object.entries(changes.limits ?? {})) if (value !== undefined) set(column, value);
  if (assignments.length === 0) return getKey(db, id);
  const row = await db
    .prepare(`UPDATE api_keys SET ${assignments.join(", ")} WHERE id = ? RETURNING ${COLUMNS}`)
    .bind(...values, id)
    .first<KeyRow>();
  return row && toRecord(row);
}

export async function revokeKey(db: D1Database, id: string): Promise<ApiKeyRecord | null> {
  const row = await db
    .prepare(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING ${COLUMNS}`)
    .bind(new Date().toISOString(), id)
    .first<KeyRow>();
  return row && toRecord(row);
}
