/** One finished request, as the usage table stores it. */
export interface UsageRow {
  requestId: string;
  clientRequestId: string | null;
  keyId: string;
  model: string;
  backendId: string | null;
  promptTokens: number;
  completionTokens: number;
  status: number;
  latencyMs: number;
}

export async function recordUsage(db: D1Database, row: UsageRow): Promise<void> {
  await db
    .prepare(
      `INSERT INTO usage (request_id, client_request_id, key_id, model, backend_id, prompt_tokens, completion_tokens, status, latency_ms, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(row.requestId, row.clientRequestId, row.keyId, row.model, row.backendId, row.promptTokens, row.completionTokens, row.status, row.latencyMs, new Date().toISOString())
    .run();
}
