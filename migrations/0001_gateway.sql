-- API keys: only the SHA-256 of the secret is stored; the key itself is shown once.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  key_prefix TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT,
  allowed_models TEXT,
  rpm INTEGER,
  tpm INTEGER,
  max_concurrent INTEGER,
  monthly_token_budget INTEGER
);

-- One row per finished request; per-day totals are aggregated on read.
CREATE TABLE usage (
  request_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  backend_id TEXT,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  status INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX usage_by_key_and_time ON usage (key_id, created_at);

-- Backends registered through the admin API (a static list may also come from wrangler.toml vars).
-- secret_name names a Worker secret holding the backend's bearer token, never the token itself.
CREATE TABLE backends (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  models TEXT NOT NULL,
  secret_name TEXT,
  draining INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);

-- Public model names added or overridden through the admin API (on top of the MODELS var).
CREATE TABLE models (
  id TEXT PRIMARY KEY,
  definition TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
