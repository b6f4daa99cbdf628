import { admin, errorMessage, keySecrets } from "../api.js";
import { confirmingButton, field, h, listOrNull, notice, numberOrNull, table } from "../dom.js";
import { formatMoney, formatTime } from "../format.js";
/** @import { ApiKey, CreatedKey, List, ListedKey } from "../types.js" */

/** @typedef {Exclude<keyof ApiKey["limits"], "budget_period">} NumberLimit */
/**
 * @typedef {Record<NumberLimit, HTMLInputElement> & {
 *   budget_period: HTMLSelectElement, models: HTMLInputElement, expires_at: HTMLInputElement
 * }} LimitInputs
 */

/** @type {[NumberLimit, string][]} */
const LIMITS = [
  ["rpm", "Requests per minute"],
  ["tpm", "Tokens per minute"],
  ["max_concurrent", "Concurrent requests"],
  ["monthly_token_budget", "Tokens per month"],
  ["max_budget", "Spend budget (USD)"],
];

/**
 * Inputs for a key's limits, filled from `key` when editing.
 * @param {ApiKey | null} key
 * @returns {LimitInputs}
 */
function limitInputs(key) {
  const numbers = /** @type {Record<NumberLimit, HTMLInputElement>} */ (
    Object.fromEntries(
      LIMITS.map(([name]) => [
        name,
        h("input", {
          type: "number",
          min: name === "max_budget" ? "0" : "1",
          step: name === "max_budget" ? "any" : "1",
          value: String(key?.limits[name] ?? ""),
        }),
      ]),
    )
  );
  return {
    ...numbers,
    budget_period: h(
      "select",
      {},
      [
        ["", "lifetime"],
        ["day", "per day"],
        ["week", "per week"],
        ["month", "per month"],
      ].map(([value, label]) => h("option", { value, selected: (key?.limits.budget_period ?? "") === value }, label)),
    ),
    models: h("input", {
      type: "text",
      value: key?.allowed_models?.join(", ") ?? "",
      placeholder: "every model",
    }),
    expires_at: h("input", {
      type: "datetime-local",
      value: key?.expires_at ? localDateTime(key.expires_at) : "",
    }),
  };
}

/** @param {LimitInputs} inputs */
function limitFields(inputs) {
  const expires = field("Expires (your time zone)", inputs.expires_at, "empty = never");
  // Said as soon as a past time is picked, not only when the form is sent.
  const warning = h("small", { class: "error-text", "aria-live": "polite" });
  inputs.expires_at.addEventListener("input", () => (warning.textContent = expiryProblem(inputs.expires_at) ?? ""));
  expires.append(warning);
  return [
    ...LIMITS.map(([name, label]) => field(label, inputs[name], "empty = unlimited")),
    field("Budget period", inputs.budget_period),
    field("Allowed models", inputs.models, "comma-separated ids or aliases"),
    expires,
  ];
}

/**
 * Why the expiry cannot be sent, or null: the gateway refuses a time already past (400 invalid_expiry),
 * so the form says so before sending.
 * @param {HTMLInputElement} input
 */
function expiryProblem(input) {
  if (!input.value || new Date(input.value).getTime() > Date.now()) return null;
  return `${input.value.replace("T", " ")} is in the past: a key must expire later, or never (leave it empty).`;
}

/** @param {LimitInputs} inputs */
function limitValues(inputs) {
  return {
    ...Object.fromEntries(LIMITS.map(([name]) => [name, numberOrNull(inputs[name])])),
    budget_period: inputs.budget_period.value || null,
    models: listOrNull(inputs.models),
    expires_at: inputs.expires_at.value ? new Date(inputs.expires_at.value).toISOString() : null,
  };
}

/**
 * An ISO instant as a datetime-local value in the browser's time zone.
 * @param {string} iso
 */
function localDateTime(iso) {
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The budget period a key's spend is counted in, as its Spend column names it. */
const PERIOD_NAMES = { day: "today (UTC)", week: "this week (UTC)", month: "this month (UTC)", lifetime: "lifetime" };

/**
 * A time in a cell, with the exact instant as its tooltip.
 * @param {string} iso
 */
function time(iso) {
  return h("time", { dateTime: iso, title: iso }, formatTime(iso));
}

/** @param {ApiKey} key */
function status(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && Date.parse(key.expires_at) <= Date.now()) return "expired";
  return "active";
}

/** @param {ApiKey} key */
function limitsText(key) {
  const { rpm, tpm, max_concurrent, monthly_token_budget, max_budget, budget_period } = key.limits;
  const parts = [
    rpm && `${rpm} req/min`,
    tpm && `${tpm} tok/min`,
    max_concurrent && `${max_concurrent} at once`,
    monthly_token_budget && `${monthly_token_budget} tok/month`,
    max_budget && `${formatMoney(max_budget)} per ${budget_period ?? "lifetime"}`,
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "unlimited";
}

/**
 * The keys page; `flash` (the key just created) is shown above the list.
 * @param {Node | null} [flash]
 */
export async function keysPage(flash = null) {
  const page = h("div");
  /** @type {List<ListedKey>} */
  const { data: keys } = await admin("GET", "/keys");
  const shown = h("div", { "aria-live": "polite" }, flash);
  const create = createForm(page, shown);
  const editor = h("div");
  page.replaceChildren(
    shown,
    table(
      "API keys",
      ["Key", "Status", "Models", "Limits", "Created", "Last used", "Expires", "Spend", "Remaining", ""],
      keys.map((key) => keyRow(key, page, editor)),
      { stackOnPhone: true },
    ),
    editor,
    create,
  );
  return page;
}

/**
 * A key's cells in the table; Edit opens its form in `editor`.
 * @param {ListedKey} key
 * @param {HTMLElement} page
 * @param {HTMLElement} editor
 */
function keyRow(key, page, editor) {
  return [
    h("div", { class: "stack" }, h("span", { class: "name" }, key.name), h("code", {}, key.key_prefix, "…")),
    h("span", { class: `badge ${status(key)}` }, status(key)),
    h("span", { class: "wrap" }, key.allowed_models?.join(", ") ?? "all"),
    limitsText(key),
    time(key.created_at),
    key.last_used_at ? time(key.last_used_at) : h("span", { class: "muted" }, "never"),
    key.expires_at ? time(key.expires_at) : "never",
    h(
      "div",
      { class: "stack" },
      formatMoney(key.current_spend.spend),
      h("small", { class: "muted" }, PERIOD_NAMES[key.limits.budget_period ?? "lifetime"]),
    ),
    key.current_spend.remaining === null
      ? h("span", { class: "muted" }, "no budget")
      : `${formatMoney(key.current_spend.remaining)} of ${formatMoney(key.limits.max_budget ?? 0)}`,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => editor.replaceChildren(editForm(key, page)) }, "Edit"),
      key.revoked_at ? null : revokeButton(key, page),
    ),
  ];
}

/**
 * Sends a key's form: an expiry already past is refused before sending; a failure is said in `status`.
 * @param {LimitInputs} inputs
 * @param {HTMLElement} status
 * @param {(limits: ReturnType<typeof limitValues>) => Promise<void>} save
 */
async function saveKey(inputs, status, save) {
  const problem = expiryProblem(inputs.expires_at);
  if (problem) {
    status.replaceChildren(notice(problem, "error"));
    return inputs.expires_at.focus();
  }
  try {
    await save(limitValues(inputs));
  } catch (error) {
    status.replaceChildren(notice(errorMessage(error), "error"));
  }
}

/**
 * Creates a key, then shows the page again with its secret above the list, the only time it is shown.
 * @param {HTMLElement} page
 * @param {HTMLElement} shown where a refusal is said
 */
function createForm(page, shown) {
  const name = h("input", { type: "text", required: true, maxLength: 200 });
  const inputs = limitInputs(null);
  return h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        await saveKey(inputs, shown, async (limits) => {
          /** @type {CreatedKey} */
          const created = await admin("POST", "/keys", { name: name.value, ...limits });
          keySecrets.set(created.id, created.key);
          const once = newKeyCard(created);
          page.replaceWith(await keysPage(once.element));
          once.copy.focus();
        });
      },
    },
    h("h2", {}, "Create a key"),
    h("div", { class: "grid" }, field("Name", name), ...limitFields(inputs)),
    h("button", { type: "submit" }, "Create key"),
  );
}

/**
 * The new key's secret, to copy now, and a way to try it.
 * @param {CreatedKey} created
 */
function newKeyCard(created) {
  const copy = h(
    "button",
    {
      type: "button",
      async onclick() {
        await navigator.clipboard.writeText(created.key).then(
          () => (copy.textContent = "Copied"),
          () => (copy.textContent = "Select it and copy by hand"),
        );
      },
    },
    "Copy",
  );
  const element = h(
    "div",
    { class: "card once" },
    h("p", {}, "New key ", h("strong", {}, created.name), ": copy it now, it is shown only once."),
    h("p", { class: "secret-row" }, h("code", { class: "secret" }, created.key), copy),
    h("p", {}, h("a", { href: "#/playground" }, "Try it in the playground")),
  );
  return { element, copy };
}

/**
 * @param {ApiKey} key
 * @param {HTMLElement} page
 */
function revokeButton(key, page) {
  return confirmingButton("Revoke", `key ${key.name}`, async () => {
    await admin("POST", `/keys/${encodeURIComponent(key.id)}/revoke`);
    page.replaceWith(await keysPage());
  });
}

/**
 * @param {ApiKey} key
 * @param {HTMLElement} page
 */
function editForm(key, page) {
  const name = h("input", { type: "text", value: key.name, required: true });
  const inputs = limitInputs(key);
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        await saveKey(inputs, status, async (limits) => {
          await admin("PATCH", `/keys/${encodeURIComponent(key.id)}`, { name: name.value, ...limits });
          page.replaceWith(await keysPage());
        });
      },
    },
    h("h2", {}, "Edit ", key.name),
    h("div", { class: "grid" }, field("Name", name), ...limitFields(inputs)),
    h("button", { type: "submit" }, "Save"),
    status,
  );
  queueMicrotask(() => name.focus());
  return form;
}
