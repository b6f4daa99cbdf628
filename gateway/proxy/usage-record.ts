/** One finished request, as the usage table stores it. */
export interface UsageRow {
  requestId: string;
  clientRequestId: string | null;
  keyId: string;
  model: string;
  backendId: string | null;
  promptTokens: number;
  completionTokens: number;
  /** At the price of the model that answered. */
  cost: number;
  status: number;
  latencyMs: number;
}

export function usageStatement(db: D1Database, row: UsageRow): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO usage (request_id, client_request_id, key_id, model, backend_id, prompt_tokens, completion_tokens, cost, status, latency_ms, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      row.requestId,
      row.clientRequestId,
      row.keyId,
      row.model,
      row.backendId,
      row.promptTokens,
      row.completionTokens,
      row.cost,
      row.status,
      row.latencyMs,
      new Date().toISOString(),
    );
}
