import { gatewayConfig } from "../config.ts";
import { BackendConfig } from "./backend.ts";

/** The backend registry: the static BACKENDS var plus rows added through the admin API (D1). */
export async function loadRegistry(env: Env): Promise<BackendConfig[]> {
  const configured = gatewayConfig(env).backends;
  const { results } = await env.DB.prepare(
    "SELECT id, url, models, secret_name, draining FROM backends ORDER BY created_at, id",
  ).all<{
    id: string;
    url: string;
    models: string;
    secret_name: string | null;
    draining: number;
  }>();
  const registered = results.map((row) =>
    BackendConfig.parse({ ...row, models: JSON.parse(row.models) as unknown, draining: row.draining === 1 }),
  );
  const byId = new Map([...configured, ...registered].map((backend) => [backend.id, backend]));
  return [...byId.values()];
}

export async function saveBackend(db: D1Database, backend: BackendConfig): Promise<void> {
  await db
    .prepare(
      `INSERT INTO backends (id, url, models, secret_name, draining, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, models = excluded.models, secret_name = excluded.secret_name, draining = excluded.draining`,
    )
    .bind(
      backend.id,
      backend.url,
      JSON.stringify(backend.models),
      backend.secret_name,
      backend.draining ? 1 : 0,
      new Date().toISOString(),
    )
    .run();
}

export async function deleteBackend(db: D1Database, id: string): Promise<boolean> {
  const { meta } = await db.prepare("DELETE FROM backends WHERE id = ?").bind(id).run();
  return meta.changes > 0;
}

/** Ids of the backends saved through the admin API (those DELETE can remove). */
export async function registeredBackendIds(db: D1Database): Promise<Set<string>> {
  const { results } = await db.prepare("SELECT id FROM backends").all<{ id: string }>();
  return new Set(results.map((row) => row.id));
}
