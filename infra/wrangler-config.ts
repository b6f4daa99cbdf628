/**
 * What the worker deploy needs to know about wrangler.toml, read through wrangler's own config
 * reader so that binding names, database names and Durable Object classes are never restated.
 * infra/deploy-worker.sh reaches it through infra/wrangler-config-cli.ts.
 */
import { writeFileSync } from "node:fs";
import * as z from "zod";

/** The parts of wrangler's resolved config read here (its published types leave Config unresolved). */
const WorkerConfig = z.object({
  name: z.string().optional(),
  d1_databases: z.array(
    z.object({ binding: z.string(), database_name: z.string().optional(), database_id: z.string().optional() }),
  ),
  kv_namespaces: z.array(z.object({ binding: z.string(), id: z.string().optional() })),
  durable_objects: z.object({
    bindings: z.array(z.object({ name: z.string(), class_name: z.string(), script_name: z.string().optional() })),
  }),
  migrations: z.array(
    z.object({
      new_sqlite_classes: z.array(z.string()).optional(),
      new_classes: z.array(z.string()).optional(),
      renamed_classes: z.array(z.object({ from: z.string(), to: z.string() })).optional(),
      deleted_classes: z.array(z.string()).optional(),
    }),
  ),
  secrets: z.object({ required: z.array(z.string()).optional() }).optional(),
  vars: z.record(z.string(), z.unknown()),
});

/** wrangler.toml as written, of which only the bindings that get ids are read; the rest is kept as it is. */
const RawBindings = z.looseObject({
  d1_databases: z.array(z.looseObject({ binding: z.string() })).optional(),
  kv_namespaces: z.array(z.looseObject({ binding: z.string() })).optional(),
});

/** Statically configured backends (the BACKENDS var) name the Worker secrets holding their tokens. */
const StaticBackends = z.array(z.object({ secret_name: z.string().nullish() }));

/** `wrangler d1 list --json` and `wrangler kv namespace list` entries. */
const D1List = z.array(z.object({ name: z.string(), uuid: z.string() }));
const KvList = z.array(z.object({ title: z.string(), id: z.string() }));

/** The secret every deployment has: the /admin API's bearer token. */
const ADMIN_SECRET = "ADMIN_TOKEN";

/** A D1 database or KV namespace that must exist on the account before deploying. */
export interface Resource {
  kind: "d1" | "kv";
  binding: string;
  /** D1: database_name; KV: the namespace title. */
  name: string;
  /** The id wrangler.toml gives, possibly a placeholder for local runs. */
  configuredId: string | undefined;
}

/** wrangler is loaded only when a config is read: it takes seconds to import. */
async function readConfig(configPath: string): Promise<z.infer<typeof WorkerConfig>> {
  const { unstable_readConfig } = await import("wrangler");
  return WorkerConfig.parse(unstable_readConfig({ config: configPath }));
}

/** KV namespaces have no name in wrangler.toml; wrangler's own provisioning titles them this way. */
function kvTitle(worker: string, binding: string): string {
  return `${worker}-${binding.toLowerCase().replaceAll("_", "-")}`;
}

export async function resources(configPath: string): Promise<Resource[]> {
  const config = await readConfig(configPath);
  const worker = config.name;
  if (!worker) throw new Error(`${configPath} has no worker name`);
  return [
    ...config.d1_databases.map((db): Resource => {
      if (!db.database_name) throw new Error(`D1 binding ${db.binding} has no database_name`);
      return { kind: "d1", binding: db.binding, name: db.database_name, configuredId: db.database_id };
    }),
    ...config.kv_namespaces.map((kv): Resource => ({
      kind: "kv",
      binding: kv.binding,
      name: kvTitle(worker, kv.binding),
      configuredId: kv.id,
    })),
  ];
}

/**
 * The worker's own Durable Object bindings. `wrangler deploy` creates their namespaces from
 * [[migrations]]; a class that no migration creates would only fail remotely, so it fails here.
 */
export async function durableObjects(configPath: string): Promise<{ binding: string; className: string }[]> {
  const config = await readConfig(configPath);
  const migrated = new Set<string>();
  for (const migration of config.migrations) {
    for (const name of [...(migration.new_sqlite_classes ?? []), ...(migration.new_classes ?? [])]) migrated.add(name);
    for (const { from, to } of migration.renamed_classes ?? []) {
      migrated.delete(from);
      migrated.add(to);
    }
    for (const name of migration.deleted_classes ?? []) migrated.delete(name);
  }
  const own = config.durable_objects.bindings.filter((binding) => !binding.script_name);
  const missing = own.filter((binding) => !migrated.has(binding.class_name));
  if (missing.length > 0)
    throw new Error(`no [[migrations]] entry creates ${missing.map((binding) => binding.class_name).join(", ")}`);
  return own.map((binding) => ({ binding: binding.name, className: binding.class_name }));
}

/** The id of the database `name` in `wrangler d1 list --json` output, if it exists. */
export function findD1(listJson: string, name: string): string | undefined {
  return D1List.parse(JSON.parse(listJson)).find((db) => db.name === name)?.uuid;
}

/** An id set in wrangler.toml wins while it exists on the account; a placeholder falls back to the title. */
export function findKv(listJson: string, title: string, configuredId: string | undefined): string | undefined {
  const list = KvList.parse(JSON.parse(listJson));
  return (list.find((kv) => kv.id === configuredId) ?? list.find((kv) => kv.title === title))?.id;
}

/**
 * Writes wrangler.toml as a JSON config with the resolved ids. It belongs beside wrangler.toml,
 * so that relative paths (main, migrations_dir) keep their meaning.
 */
export async function writeDeployConfig(configPath: string, out: string, ids: Map<string, string>): Promise<void> {
  // wrangler's published declarations leave this function's type unresolved: it is named here.
  const wrangler = (await import("wrangler")) as unknown as {
    experimental_readRawConfig(args: { config: string }): { rawConfig: unknown };
  };
  const rawConfig = RawBindings.parse(wrangler.experimental_readRawConfig({ config: configPath }).rawConfig);
  const withIds = {
    ...rawConfig,
    d1_databases: rawConfig.d1_databases?.map((db) =>
      ids.has(db.binding) ? { ...db, database_id: ids.get(db.binding) } : db,
    ),
    kv_namespaces: rawConfig.kv_namespaces?.map((kv) =>
      ids.has(kv.binding) ? { ...kv, id: ids.get(kv.binding) } : kv,
    ),
  };
  writeFileSync(out, JSON.stringify(withIds, null, 2));
}

/**
 * The secrets to upload: ADMIN_TOKEN, `[secrets] required`, the secret_name of each backend in
 * the BACKENDS var, and the names given. Values come from `env`, so they never appear on a
 * command line; they are written to `out` (readable by the owner only) for `--secrets-file`.
 * Returns each name and whether `env` set it.
 */
export async function writeSecretsFile(
  configPath: string,
  out: string,
  env: Record<string, string | undefined>,
  extra: string[],
): Promise<{ name: string; set: boolean }[]> {
  const config = await readConfig(configPath);
  const backends =
    typeof config.vars.BACKENDS === "string" ? StaticBackends.parse(JSON.parse(config.vars.BACKENDS)) : [];
  const names = [
    ...new Set([
      ADMIN_SECRET,
      ...(config.secrets?.required ?? []),
      ...backends.flatMap((backend) => backend.secret_name ?? []),
      ...extra,
    ]),
  ];
  const present = names.filter((name) => env[name]);
  writeFileSync(out, JSON.stringify(Object.fromEntries(present.map((name) => [name, env[name]]))), { mode: 0o600 });
  return names.map((name) => ({ name, set: present.includes(name) }));
}
