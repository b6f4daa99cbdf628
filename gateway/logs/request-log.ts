import type { LogRetention } from "../config.ts";
import { LoggedBodies, type LoggedRequest } from "./logged-request.ts";

const COLUMNS = [
  "request_id",
  "client_request_id",
  "created_at",
  "key_id",
  "endpoint",
  "model_asked",
  "model_answered",
  "backend_id",
  "status",
  "error_code",
  "stream",
  "prompt_tokens",
  "completion_tokens",
  "cached_tokens",
  "cost",
  "ttft_ms",
  "duration_ms",
  "finish_reason",
  "attempts",
  "fallbacks",
  "country",
  "trace_id",
] as const satisfies readonly (keyof LoggedRequest)[];

/**
 * The statements that log one request, bodies included when given, and keep the log within its
 * bounds. Run in the settlement's batch, so a request is logged exactly when its usage is recorded.
 * Pruning on every write (each delete a range on an index) keeps the log bounded without a cron.
 */
export function logStatements(
  db: D1Database,
  entry: LoggedRequest,
  bodies: LoggedBodies | null,
  retention: LogRetention,
): D1PreparedStatement[] {
  const now = Date.now();
  const cutoff = (ms: number) => new Date(now - ms).toISOString();
  const values = COLUMNS.map((column) => (column === "stream" ? Number(entry.stream) : entry[column]));
  return [
    db
      .prepare(`INSERT INTO request_log (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`)
      .bind(...values),
    ...(bodies
      ? [
          db
            .prepare(
              `INSERT INTO request_log_bodies (seq, created_at, request_body, response_body)
               SELECT seq, created_at, ?2, ?3 FROM request_log WHERE request_id = ?1`,
            )
            .bind(entry.request_id, bodies.request_body, bodies.response_body),
        ]
      : []),
    db.prepare("DELETE FROM request_log WHERE seq <= (SELECT MAX(seq) FROM request_log) - ?").bind(retention.maxRows),
    db.prepare("DELETE FROM request_log WHERE created_at < ?").bind(cutoff(retention.retentionMs)),
    db
      .prepare("DELETE FROM request_log_bodies WHERE seq <= (SELECT MAX(seq) FROM request_log) - ?")
      .bind(retention.maxBodies),
    db.prepare("DELETE FROM request_log_bodies WHERE created_at < ?").bind(cutoff(retention.bodyRetentionMs)),
  ];
}

/** A logged request's bodies; null when none were kept (or no longer are). */
export async function loggedBodies(db: D1Database, requestId: string): Promise<LoggedBodies | null> {
  const row = await db
    .prepare(
      `SELECT b.request_body, b.response_body FROM request_log_bodies b
       JOIN request_log l ON l.seq = b.seq WHERE l.request_id = ?`,
    )
    .bind(requestId)
    .first();
  return row ? LoggedBodies.parse(row) : null;
}
