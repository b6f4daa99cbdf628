/**
 * What infra/deploy-worker.sh needs to know about the worker's wrangler.toml, read through
 * wrangler's own config reader so binding names are never restated by hand.
 *
 *   resources                 one line per D1 database and KV namespace: kind, binding, name, id
 *   durable-objects           checks every Durable Object class has a migration; one line per binding
 *   find-d1 NAME              the id of the database NAME in `wrangler d1 list --json` (stdin)
 *   find-kv TITLE [ID]        ID if `wrangler kv namespace list` (stdin) has it, else the id of TITLE
 *   write-config OUT [BINDING=ID…]   wrangler.toml as JSON, with resolved ids, at OUT (beside wrangler.toml)
 *   secrets OUT [NAME…]       the secrets to upload, as JSON taken from the environment, at OUT
 */
import { readFileSync, writeFileSync } from "node:fs";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";
import * as z from "zod";

const CONFIG = process.env.WRANGLER_CONFIG ?? "wrangler.toml";

/** The secret every deployment has (the /admin API's bearer token). */
const ADMIN_SECRET = "ADMIN_TOKEN";

function fail(message: string): never {
  console.error(`wrangler-config: ${message}`);
  process.exit(1);
}

/** The parts of wrangler's resolved config read here (its published types leave Config unresolved). */
const WorkerConfig = z.object({
  name: z.string().optional(),
  d1_databases: z.array(z.object({ binding: z.string(), database_name: z.string().optional(), database_id: z.string().optional() })),
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

/** Statically configured backends (the BACKENDS var) name the Worker secrets holding their tokens. */
const StaticBackends = z.array(z.object({ secret_name: z.string().nullish() }));

function readConfig(): z.infer<typeof WorkerConfig> {
  return WorkerConfig.parse(unstable_readConfig({ config: CONFIG }));
}

/** KV namespaces have no name in wrangler.toml; wrangler's own provisioning names them this way. */
function kvTitle(worker: string, binding: string): string {
  return `${worker}-${binding.toLowerCase().replaceAll("_", "-")}`;
}

function resources(): string[] {
  const config = readConfig();
  const worker = config.name ?? fail(`${CONFIG} has no worker name`);
  return [
    ...config.d1_databases.map((db) => {
      const name = db.database_name ?? fail(`D1 binding ${db.binding} has no database_name`);
      return ["d1", db.binding, name, db.database_id ?? ""].join("\t");
    }),
    ...config.kv_namespaces.map((kv) => ["kv", kv.binding, kvTitle(worker, kv.binding), kv.id ?? ""].join("\t")),
  ];
}

/** Durable Object namespaces are created by `wrangler deploy` from [[migrations]]; a class without one fails remotely. */
function durableObjects(): string[] {
  const config = readConfig();
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
  if (missing.length > 0) {
    fail(`no [[migrations]] entry creates ${missing.map((binding) => binding.class_name).join(", ")}`);
  }
  return own.map((binding) => ["do", binding.name, binding.class_name].join("\t"));
}

function stdinJson(): unknown {
  const text = readFileSync(0, "utf8");
  try {
    return JSON.parse(text);
  } catch {
    fail(`expected JSON from wrangler, got: ${text.slice(0, 200)}`);
  }
}

function stdinList(): Record<string, unknown>[] {
  const list = stdinJson();
  if (!Array.isArray(list)) fail("expected a JSON list from wrangler");
  return list;
}

function findD1(name: string): string {
  const match = stdinList().find((db) => db.name === name);
  return match ? String(match.uuid) : "";
}

/** An id set in wrangler.toml wins while it exists on the account; a placeholder falls back to the title. */
function findKv(title: string, configuredId: string | undefined): string {
  const list = stdinList();
  const match = list.find((kv) => configuredId && kv.id === configuredId) ?? list.find((kv) => kv.title === title);
  return match ? String(match.id) : "";
}

function writeConfig(out: string, assignments: string[]): void {
  const ids = new Map(
    assignments.map((assignment) => {
      const [binding, id] = assignment.split("=");
      if (!binding || !id) fail(`expected BINDING=ID, got ${assignment}`);
      return [binding, id];
    }),
  );
  const { rawConfig } = experimental_readRawConfig({ config: CONFIG });
  const raw = rawConfig as { d1_databases?: { binding: string }[]; kv_namespaces?: { binding: string }[] };
  const withIds = {
    ...rawConfig,
    d1_databases: raw.d1_databases?.map((db) => (ids.has(db.binding) ? { ...db, database_id: ids.get(db.binding) } : db)),
    kv_namespaces: raw.kv_namespaces?.map((kv) => (ids.has(kv.binding) ? { ...kv, id: ids.get(kv.binding) } : kv)),
  };
  writeFileSync(out, JSON.stringify(withIds, null, 2));
}

/**
 * ADMIN_TOKEN, `[secrets] required`, the secret_name of each backend in the BACKENDS var, and the
 * names given. Values come from this process's environment, so they never appear on a command line.
 */
function secrets(out: string, extra: string[]): string[] {
  const config = readConfig();
  const backends = typeof config.vars.BACKENDS === "string" ? StaticBackends.parse(JSON.parse(config.vars.BACKENDS)) : [];
  const names = [
    ...new Set([
      ADMIN_SECRET,
      ...(config.secrets?.required ?? []),
      ...backends.flatMap((backend) => backend.secret_name ?? []),
      ...extra,
    ]),
  ];
  const present = names.filter((name) => process.env[name]);
  writeFileSync(out, JSON.stringify(Object.fromEntries(present.map((name) => [name, process.env[name]]))), { mode: 0o600 });
  return names.map((name) => `${name}\t${present.includes(name) ? "set" : "unset"}`);
}

const [command, ...args] = process.argv.slice(2);
const output: Record<string, () => string[] | string | void> = {
  resources,
  "durable-objects": durableObjects,
  "find-d1": () => findD1(args[0] ?? fail("find-d1 NAME")),
  "find-kv": () => findKv(args[0] ?? fail("find-kv TITLE [ID]"), args[1]),
  "write-config": () => writeConfig(args[0] ?? fail("write-config OUT [BINDING=ID…]"), args.slice(1)),
  secrets: () => secrets(args[0] ?? fail("secrets OUT [NAME…]"), args.slice(1)),
};
const run = output[command ?? ""] ?? fail(`unknown command ${command}; expected one of ${Object.keys(output).join(", ")}`);
const result = run();
if (Array.isArray(result)) {
  if (result.length > 0) console.log(result.join("\n"));
} else if (typeof result === "string" && result) console.log(result);
