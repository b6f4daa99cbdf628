import { admin } from "../api.js";
import { stackedBars } from "../chart.js";
import { field, h, notice, table } from "../dom.js";
import { formatMoney, formatNumber } from "../format.js";
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
  const today = new Date().toISOString().slice(0, 10);
  const since = h("input", {
    type: "date",
    value: new Date(Date.now() - 6 * DAY_MS).toISOString().slice(0, 10),
    max: today,
  });
  const until = h("input", { type: "date", value: today, max: today });
  const key = h(
    "select",
    {},
    h("option", { value: "" }, "All keys"),
    keys.map((one) => h("option", { value: one.id }, one.name)),
  );
  const metric = h(
    "select",
    {},
    Object.entries(METRICS).map(([value, label]) => h("option", { value }, label)),
  );
  const group = h(
    "select",
    {},
    Object.entries(GROUPS).map(([value, label]) => h("option", { value }, label)),
  );
  const result = h("div", { "aria-live": "polite" });

  /** @type {UsageRow[]} */
  let rows = [];
  const draw = () => {
    // The selects offer only METRICS' and GROUPS' keys.
    const shown = /** @type {keyof typeof METRICS} */ (metric.value);
    const grouping = /** @type {keyof typeof GROUPS} */ (group.value);
    const days = daysBetween(since.value, until.value);
    const seriesName = (/** @type {UsageRow} */ row) =>
      grouping === "key" ? (keyNames.get(row.key_id) ?? row.key_id) : row.model;
    /** @type {Map<string, Record<string, number>>} */
    const series = new Map();
    for (const row of rows) {
      const name = seriesName(row);
      const values = series.get(name) ?? {};
      values[row.day] = (values[row.day] ?? 0) + row[shown];
      series.set(name, values);
    }
    const title = `${METRICS[shown]} ${GROUPS[grouping]} per day, ${since.value} to ${until.value}`;
    result.replaceChildren(
      rows.length
        ? stackedBars(
            title,
            days,
            [...series].map(([name, values]) => ({ name, values })),
            SCALES[shown],
          )
        : notice(`No usage from ${since.value} to ${until.value}.`),
      h(
        "p",
        {},
        h(
          "button",
          { type: "button", onclick: () => downloadCsv(rows, keyNames, since.value, until.value) },
          "Download CSV",
        ),
      ),
      table(
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
      ),
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
    const query = new URLSearchParams({
      since: since.value,
      until: until.value,
      ...(key.value ? { key_id: key.value } : {}),
    });
    rows = (await admin("GET", `/usage?${query}`)).data;
    draw();
  };
  const form = h(
    "form",
    {
      class: "card filters",
      async onsubmit(event) {
        event.preventDefault();
        await load();
      },
    },
    field("From", since),
    field("To", until),
    field("Key", key),
    field("Show", metric),
    field("Group", group),
    h("button", { type: "submit" }, "Show"),
  );
  const redraw = () => rows.length > 0 && draw();
  metric.addEventListener("change", redraw);
  group.addEventListener("change", redraw);
  await load();
  return h("div", {}, form, result);
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
