import { admin, errorMessage } from "../api.js";
import { stackedBars } from "../chart.js";
import { field, h, notice, select, table } from "../dom.js";
import { formatNumber } from "../format.js";
import { refreshWhileShown } from "../live.js";
/** @import { Dashboard } from "../types.js" */

const REFRESH_MS = 15_000;
const WINDOWS = { "1h": "Last hour", "24h": "Last day" };
const GROUPINGS = { model: "per model", backend: "per backend" };

const ms = (/** @type {number | null} */ value) => (value === null ? "–" : `${formatNumber(value)} ms`);
const percent = (/** @type {number} */ part, /** @type {number} */ all) =>
  all === 0 ? "–" : `${formatNumber((100 * part) / all)} %`;

/**
 * Health over time, from the request log: requests and errors per minute (or quarter hour), and per
 * model or backend the error rate, p50/p95 time to first token and duration, and streamed tokens/s.
 * It refreshes itself while shown.
 */
export async function dashboardPage() {
  const span = select(Object.entries(WINDOWS));
  const by = select(Object.entries(GROUPINGS));
  const content = h("div", { "aria-live": "polite" });
  const updated = h("p", { class: "muted" });
  const page = h(
    "div",
    {},
    h("div", { class: "card filters" }, field("Window", span), field("Group", by)),
    updated,
    content,
  );

  const refresh = async () => {
    /** @type {Dashboard} */
    const dashboard = await admin("GET", `/dashboard?window=${span.value}&by=${by.value}`);
    content.replaceChildren(...dashboardView(dashboard));
  };
  const refreshNow = async () => {
    try {
      await refresh();
    } catch (error) {
      content.replaceChildren(notice(errorMessage(error), "error"));
    }
  };
  span.addEventListener("change", refreshNow);
  by.addEventListener("change", refreshNow);
  await refresh();
  refreshWhileShown(page, REFRESH_MS, refresh, updated);
  return page;
}

/** @param {Dashboard} dashboard */
function dashboardView(dashboard) {
  const requests = dashboard.groups.reduce((sum, group) => sum + group.requests, 0);
  const errors = dashboard.groups.reduce((sum, group) => sum + group.errors, 0);
  const minutes = dashboard.bucket_seconds / 60;
  // Every bucket of the window, empty ones included, so a quiet stretch shows as one.
  const starts = [];
  const first = Math.floor(Date.parse(dashboard.since) / 1000 / dashboard.bucket_seconds) * dashboard.bucket_seconds;
  for (let at = first; at * 1000 <= Date.parse(dashboard.until); at += dashboard.bucket_seconds)
    starts.push(new Date(at * 1000).toISOString().replace(".000Z", "Z"));
  const byStart = new Map(dashboard.buckets.map((bucket) => [bucket.start.replace(".000Z", "Z"), bucket]));
  const series = [
    {
      name: "Answered",
      values: Object.fromEntries(
        starts.map((start) => [start, (byStart.get(start)?.requests ?? 0) - (byStart.get(start)?.errors ?? 0)]),
      ),
    },
    { name: "Errors", values: Object.fromEntries(starts.map((start) => [start, byStart.get(start)?.errors ?? 0])) },
  ];
  const grouping = GROUPINGS[dashboard.by];
  return [
    h(
      "dl",
      { class: "stats" },
      h("div", {}, h("dt", {}, "Requests"), h("dd", {}, formatNumber(requests))),
      h("div", {}, h("dt", {}, "Errors"), h("dd", {}, `${formatNumber(errors)} (${percent(errors, requests)})`)),
      h(
        "div",
        {},
        h("dt", {}, "Requests per minute"),
        h("dd", {}, formatNumber(requests / (starts.length * minutes || 1))),
      ),
    ),
    stackedBars(
      `Requests per ${minutes === 1 ? "minute" : `${minutes} minutes`}, ${WINDOWS[dashboard.window].toLowerCase()}`,
      starts,
      series,
      {
        format: (value) => formatNumber(value),
        integer: true,
        label: (start) => new Date(start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      },
    ),
    table(
      `Health ${grouping}`,
      [
        dashboard.by === "model" ? "Model" : "Backend",
        "Requests",
        "Error rate",
        "TTFT p50",
        "TTFT p95",
        "Duration p50",
        "Duration p95",
        "Tokens/s",
      ],
      dashboard.groups.map((group) => [
        group.group || "(none answered)",
        formatNumber(group.requests),
        percent(group.errors, group.requests),
        ms(group.ttft_p50_ms),
        ms(group.ttft_p95_ms),
        ms(group.duration_p50_ms),
        ms(group.duration_p95_ms),
        group.output_tokens_per_second === null ? "–" : formatNumber(group.output_tokens_per_second),
      ]),
    ),
  ];
}
