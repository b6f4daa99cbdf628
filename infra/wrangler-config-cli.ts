/**
 * infra/wrangler-config.ts for infra/deploy-worker.sh: tab-separated lines on stdout, a message and
 * exit code 1 on failure. The config is wrangler.toml, or $WRANGLER_CONFIG.
 *
 *   resources                        kind, binding, name, configured id: one line per D1 database / KV namespace
 *   durable-objects                  binding, class: one line per Durable Object binding (fails without a migration)
 *   find-d1 NAME                     the id of database NAME in `wrangler d1 list --json` (stdin), or nothing
 *   find-kv TITLE [ID]               ID if `wrangler kv namespace list` (stdin) has it, else TITLE's id, or nothing
 *   write-config OUT [BINDING=ID…]   the deploy config with resolved ids at OUT
 *   secrets OUT [NAME…]              the secrets found in the environment as JSON at OUT; name and set/unset lines
 */
import { readFileSync } from "node:fs";
import { durableObjects, findD1, findKv, resources, writeDeployConfig, writeSecretsFile } from "./wrangler-config.ts";

const config = process.env.WRANGLER_CONFIG ?? "wrangler.toml";
const [command, ...args] = process.argv.slice(2);

function required(value: string | undefined, usage: string): string {
  if (value === undefined) throw new Error(`usage: ${usage}`);
  return value;
}

function parseIds(assignments: string[]): Map<string, string> {
  return new Map(
    assignments.map((assignment) => {
      const [binding, id] = assignment.split("=");
      if (!binding || !id) throw new Error(`expected BINDING=ID, got ${assignment}`);
      return [binding, id];
    }),
  );
}

const commands: Record<string, () => Promise<string[]>> = {
  resources: async () =>
    (await resources(config)).map((resource) =>
      [resource.kind, resource.binding, resource.name, resource.configuredId ?? ""].join("\t"),
    ),
  "durable-objects": async () =>
    (await durableObjects(config)).map(({ binding, className }) => `${binding}\t${className}`),
  "find-d1": () => Promise.resolve([findD1(readFileSync(0, "utf8"), required(args[0], "find-d1 NAME")) ?? ""]),
  "find-kv": () =>
    Promise.resolve([findKv(readFileSync(0, "utf8"), required(args[0], "find-kv TITLE [ID]"), args[1]) ?? ""]),
  "write-config": async () => {
    await writeDeployConfig(config, required(args[0], "write-config OUT [BINDING=ID…]"), parseIds(args.slice(1)));
    return [];
  },
  secrets: async () =>
    (await writeSecretsFile(config, required(args[0], "secrets OUT [NAME…]"), process.env, args.slice(1))).map(
      ({ name, set }) => `${name}\t${set ? "set" : "unset"}`,
    ),
};

try {
  const run = commands[command ?? ""];
  if (!run) throw new Error(`unknown command ${command}; expected one of ${Object.keys(commands).join(", ")}`);
  const lines = await run();
  if (lines.length > 0) console.log(lines.join("\n"));
} catch (error) {
  console.error(`wrangler-config: ${(error as Error).message}`);
  process.exitCode = 1;
}
