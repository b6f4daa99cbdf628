import { admin } from "../api.js";
import { stackedBars } from "../chart.js";
import { field, filterForm, h, notice, select, table } from "../dom.js";
import { formatMoney, formatNumber } from "../format.js";
import { keyFilter } from "../key-filter.js";
/** @import { ApiKey, List, UsageRow } from "../types.js" */

const DAY_MS = 86_400_000;
const METRICS = { requests: "Requests", total_tokens: "Tokens", cost: "Spend (USD)" };
/** How each metric reads on the chart's axis: counts in whole numbers, spend in dollars. */
const SCALES = {
  requests: { format: formatNumber, integer: true },
  total_tokens: { format: formatNumber, integer: true },
  cost: { format: formatMoney, integer: false },
};
const GROUPS = { key: "per key", model: "per model" };

/** The usage page: filters, the chart of the chosen metric per day, the rows, and a CSV of them. */
export async function usagePage() {
  /** @type {List<ApiKey>} */
  const { data: keys } = await admin("GET", "/keys");
  const keyNames = new Map(keys.map((key) => [key.id, key.name]));
  const filters = usageFilters(keys);
  const { since, until } = filters;
  const result = h("div", { "aria-live": "polite" });

  /** @type {UsageRow[]} */
  let rows = [];
  const draw = () => {
    result.replaceChildren(
      usageChart(rows, filters, keyNames),
      h(
        "p",
        {},
        h(
          "button",
          { type: "button", onclick: () => downloadCsv(rows, keyNames, since.value, until.value) },
          "Download CSV",
        ),
      ),
      usageTable(rows, keyNames),
    );
  };
  const load = async () => {
    // An inverted range would ask for nothing and draw an empty chart: said instead.
    if (since.value > until.value) {
      rows = [];
      result.replaceChildren(
        notice(
          `"From" (${since.value}) is after "To" (${until.value}): choose a range that starts before it ends.`,
          "error",
        ),
      );
      return since.focus();
    }
    rows = (await admin("GET", `/usage?${usageQuery(filters)}`)).data;
    draw();
  };
  const form = filterForm("Show", filters.fields, load);
  const redraw = () => rows.length > 0 && draw();
  filters.metric.addEventListener("change", redraw);
  filters.group.addEventListener("change", redraw);
  await load();
  return h("div", {}, form, result);
}

/**
 * The filters: their inputs, a week up to today to begin with, and their labelled fields.
 * @param {ApiKey[]} keys
 */
function usageFilters(keys) {
  const today = new Date().toISOString().slice(0, 10);
  const inputs = {
    since: h("input", {
      type: "date",
      value: new Date(Date.now() - 6 * DAY_MS).toISOString().slice(0, 10),
      max: today,
    }),
    until: h("input", { type: "date", value: today, max: today }),
    key: keyFilter(keys),
    metric: select(Object.entries(METRICS)),
    group: select(Object.entries(GROUPS)),
  };
  return {
    ...inputs,
    fields: [
      field("From", inputs.since),
      field("To", inputs.until),
      field("Key", inputs.key),
      field("Show", inputs.metric),
      field("Group", inputs.group),
    ],
  };
}

/** @param {ReturnType<typeof usageFilters>} filters */
function usageQuery(filters) {
  return new URLSearchParams({
    since: filters.since.value,
    until: filters.until.value,
    ...(filters.key.value ? { key_id: filters.key.value } : {}),
  });
}

/**
 * The chosen metric per day, a stack of one series per key or per model; or that there was no usage.
 * @param {UsageRow[]} rows
 * @param {ReturnType<typeof usageFilters>} filters
 * @param {Map<string, string>} keyNames
 */
function usageChart(rows, filters, keyNames) {
  const since = filters.since.value;
  const until = filters.until.value;
  if (!rows.length) return notice(`No usage from ${since} to ${until}.`);
  // The selects offer only METRICS' and GROUPS' keys.
  const shown = /** @type {keyof typeof METRICS} */ (filters.metric.value);
  const grouping = /** @type {keyof typeof GROUPS} */ (filters.group.value);
  /** @type {Map<string, Record<string, number>>} */
  const series = new Map();
  for (const row of rows) {
    const name = grouping === "key" ? (keyNames.get(row.key_id) ?? row.key_id) : row.model;
    const values = series.get(name) ?? {};
    values[row.day] = (values[row.day] ?? 0) + row[shown];
    series.set(name, values);
  }
  return stackedBars(
    `${METRICS[shown]} ${GROUPS[grouping]} per day, ${since} to ${until}`,
    daysBetween(since, until),
    [...series].map(([name, values]) => ({ name, values })),
    SCALES[shown],
  );
}

/**
 * @param {UsageRow[]} rows
 * @param {Map<string, string>} keyNames
 */
function usageTable(rows, keyNames) {
  return table(
    "Usage per key, model and day",
    ["Day", "Key", "Model", "Requests", "Prompt tokens", "Completion tokens", "Spend"],
    rows.map((row) => [
      row.day,
      keyNames.get(row.key_id) ?? row.key_id,
      row.model,
      String(row.requests),
      String(row.prompt_tokens),
      String(row.completion_tokens),
      formatMoney(row.cost ?? 0),
    ]),
  );
}

/**
 * @param {string} since
 * @param {string} until
 */
function daysBetween(since, until) {
  const days = [];
  for (let time = Date.parse(since); time <= Date.parse(until) && days.length < 366; time += DAY_MS)
    days.push(new Date(time).toISOString().slice(0, 10));
  return days;
}

/**
 * Quotes a CSV cell when it needs it; a leading =, +, - or @ is defused so spreadsheets do not run it as a formula.
 * @param {unknown} value
 */
function csvCell(value) {
  let text = String(value ?? "");
  if (/^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * @param {UsageRow[]} rows
 * @param {Map<string, string>} keyNames
 * @param {string} since
 * @param {string} until
 */
function downloadCsv(rows, keyNames, since, until) {
  const header = [
    "day",
    "key_id",
    "key_name",
    "model",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
  ];
  const lines = [
    header,
    ...rows.map((row) => [
      row.day,
      row.key_id,
      keyNames.get(row.key_id) ?? "",
      row.model,
      row.requests,
      row.prompt_tokens,
      row.completion_tokens,
      row.total_tokens,
      row.cost ?? 0,
    ]),
  ];
  const blob = new Blob([lines.map((line) => line.map(csvCell).join(",")).join("\n") + "\n"], { type: "text/csv" });
  const link = h("a", { href: URL.createObjectURL(blob), download: `moxie-usage-${since}-to-${until}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
