-- One row per admitted request, written in the same settlement as its usage row. Unlike usage (the
-- billing record, kept), the log is bounded: settlement prunes it by age and row count (see
-- gateway/logs/request-log.ts), so seq (monotonic) and created_at are both indexed.
CREATE TABLE request_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL UNIQUE,
  client_request_id TEXT,
  created_at TEXT NOT NULL,
  key_id TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  model_asked TEXT NOT NULL,
  model_answered TEXT,
  backend_id TEXT,
  status INTEGER NOT NULL,
  error_code TEXT,
  stream INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cached_tokens INTEGER,
  cost REAL NOT NULL,
  ttft_ms INTEGER,
  duration_ms INTEGER NOT NULL,
  finish_reason TEXT,
  attempts INTEGER NOT NULL,
  fallbacks INTEGER NOT NULL,
  country TEXT,
  trace_id TEXT
);
CREATE INDEX request_log_created ON request_log (created_at);
CREATE INDEX request_log_key ON request_log (key_id, seq);
CREATE INDEX request_log_model ON request_log (model_asked, seq);
CREATE INDEX request_log_client_request ON request_log (client_request_id);

-- Bodies of requests whose key opted in (log_bodies), kept apart so their shorter retention is a
-- cheap range delete.
CREATE TABLE request_log_bodies (
  seq INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  request_body TEXT,
  response_body TEXT
);
CREATE INDEX request_log_bodies_created ON request_log_bodies (created_at);

ALTER TABLE api_keys ADD COLUMN log_bodies INTEGER NOT NULL DEFAULT 0;
