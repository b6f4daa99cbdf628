import { gatewayConfig } from "../config.ts";
import { ModelDefinition } from "./model-definition.ts";

/** Models change rarely; an isolate re-reads the admin-managed ones after this long. */
const CATALOG_TTL_MS = 5_000;

let cached: { models: ModelDefinition[]; expires: number } | undefined;

/** The MODELS var, overridden or extended by models saved through the admin API. */
export async function loadCatalog(env: Env): Promise<ModelDefinition[]> {
  const now = Date.now();
  if (cached && cached.expires > now) return cached.models;
  const configured = gatewayConfig(env).models;
  const { results } = await env.DB.prepare("SELECT definition FROM models ORDER BY id").all<{ definition: string }>();
  const saved = results.map((row) => ModelDefinition.parse(JSON.parse(row.definition)));
  const byId = new Map([...configured, ...saved].map((model) => [model.id, model]));
  const models = [...byId.values()];
  cached = { models, expires: now + CATALOG_TTL_MS };
  return models;
}

/** The ids of the models saved through the admin API (overrides of the MODELS var, or additions to it). */
export async function savedModelIds(db: D1Database): Promise<Set<string>> {
  const { results } = await db.prepare("SELECT id FROM models").all<{ id: string }>();
  return new Set(results.map((row) => row.id));
}

function forgetCachedCatalog(): void {
  cached = undefined;
}

/** The model a client's name refers to: its id or one of its aliases. */
export function resolveModel(catalog: ModelDefinition[], name: string): ModelDefinition | undefined {
  return catalog.find((model) => model.id === name || model.aliases.includes(name));
}

export async function saveModel(db: D1Database, model: ModelDefinition): Promise<void> {
  await db
    .prepare(
      "INSERT INTO models (id, definition, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
    )
    .bind(model.id, JSON.stringify(model), new Date().toISOString())
    .run();
  forgetCachedCatalog();
}

export async function deleteModel(db: D1Database, id: string): Promise<boolean> {
  const { meta } = await db.prepare("DELETE FROM models WHERE id = ?").bind(id).run();
  forgetCachedCatalog();
  return meta.changes > 0;
}
