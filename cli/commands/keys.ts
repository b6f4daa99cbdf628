import type { ApiKeyRecord } from "../../gateway/auth/key-record.ts";
import { defineCommand, UsageError } from "../command.ts";

/** `moxie keys create|list|revoke`: the gateway's admin API (/admin/keys) from the command line. */
export const keys = defineCommand({
  name: "keys",
  summary: "create, list or revoke API keys through the gateway's admin API",
  positionals: "<create|list|revoke> [KEY_ID]",
  options: {
    url: { type: "string", description: "gateway URL", default: "http://127.0.0.1:8787", placeholder: "URL" },
    "admin-token": { type: "string", description: "admin token (default: $MOXIE_ADMIN_TOKEN)", placeholder: "TOKEN" },
    name: { type: "string", description: "name of the new key (create)" },
    rpm: { type: "integer", min: 1, description: "requests per minute (create)" },
    tpm: { type: "integer", min: 1, description: "tokens per minute (create)" },
    "max-concurrent": { type: "integer", min: 1, description: "concurrent requests (create)" },
    "monthly-budget": { type: "integer", min: 1, description: "tokens per calendar month (create)" },
    "max-budget": {
      type: "number",
      description: "spend allowed per --budget-period, in the catalog's price unit (create)",
    },
    // Checked by the gateway (422): the CLI loads no gateway code, so the backend image need not ship it.
    "budget-period": {
      type: "string",
      placeholder: "PERIOD",
      description: "day, week or month: period of --max-budget (create; default: the key's lifetime)",
    },
    "expires-at": {
      type: "string",
      description: "ISO 8601 date-time after which the key is refused (create)",
      placeholder: "TIME",
    },
    models: {
      type: "string",
      description: "comma-separated models the key may use (create; default all)",
      placeholder: "a,b",
    },
    json: { type: "boolean", description: "print JSON" },
  },
  async run(values, [action, keyId, ...extra]) {
    if (!isAction(action))
      throw new UsageError(action ? `unknown action '${action}'` : "an action is required: create, list or revoke");
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
    const token = values["admin-token"] ?? process.env.MOXIE_ADMIN_TOKEN;
    if (!token) throw new UsageError("--admin-token (or MOXIE_ADMIN_TOKEN) is required");
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(new URL(`/admin/keys${path}`, values.url), {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const payload = (await response.json().catch(() => null)) as { message?: string; detail?: unknown } | null;
      if (!response.ok)
        throw new Error(
          `gateway answered ${response.status}: ${payload?.message ?? JSON.stringify(payload?.detail ?? payload)}`,
        );
      return payload;
    };

    switch (action) {
      case "create": {
        if (!values.name) throw new UsageError("--name is required for create");
        const created = (await call("POST", "", {
          name: values.name,
          rpm: values.rpm,
          tpm: values.tpm,
          max_concurrent: values["max-concurrent"],
          monthly_token_budget: values["monthly-budget"],
          max_budget: values["max-budget"],
          budget_period: values["budget-period"],
          expires_at: values["expires-at"],
          models: values.models
            ?.split(",")
            .map((model) => model.trim())
            .filter(Boolean),
        })) as ApiKeyRecord & { key: string };
        if (values.json) console.log(JSON.stringify({ id: created.id, key: created.key }));
        else
          console.log(
            `created ${created.id} (${created.name})\n${created.key}\nstore it now: the key is not shown again`,
          );
        return;
      }
      case "list": {
        const { data } = (await call("GET", "")) as { data: ApiKeyRecord[] };
        if (values.json) return console.log(JSON.stringify(data));
        for (const key of data) {
          const limits = Object.entries(key.limits)
            .filter(([, limit]) => limit !== null)
            .map(([name, limit]) => `${name}=${limit}`);
          console.log(
            [
              key.id,
              key.name,
              `${key.key_prefix}…`,
              key.revoked_at ? `revoked ${key.revoked_at}` : "active",
              limits.join(" ") || "unlimited",
              key.allowed_models?.join(",") ?? "all models",
            ].join("\t"),
          );
        }
        return;
      }
      case "revoke": {
        if (!keyId) throw new UsageError("revoke needs the key id: moxie keys revoke KEY_ID");
        const revoked = (await call("POST", `/${encodeURIComponent(keyId)}/revoke`)) as ApiKeyRecord;
        console.log(values.json ? JSON.stringify(revoked) : `revoked ${revoked.id} at ${revoked.revoked_at}`);
        return;
      }
    }
  },
});

const actions = ["create", "list", "revoke"] as const;

function isAction(value: string | undefined): value is (typeof actions)[number] {
  return (actions as readonly (string | undefined)[]).includes(value);
}
