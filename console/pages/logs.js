import { admin, errorMessage } from "../api.js";
import { formatMoney, formatNumber, formatTime } from "../format.js";
import { field, filterForm, h, notice, select, table } from "../dom.js";
import { keyFilter } from "../key-filter.js";
/** @import { ApiKey, List, LogDetail, LogPage, LoggedRequest } from "../types.js" */

const PAGE_SIZE = 50;
/** @type {[value: string, label: string][]} */
const STATUSES = [
  ["", "Any status"],
  ["2xx", "2xx"],
  ["4xx", "4xx"],
  ["429", "429"],
  ["5xx", "5xx"],
  ["499", "499 (client left)"],
];

const ms = (/** @type {number | null} */ value) => (value === null ? "–" : `${formatNumber(value)} ms`);
const orDash = (/** @type {string | number | null} */ value) => (value === null || value === "" ? "–" : String(value));

/**
 * The request log: filters (key, model, status, backend, time), a request-id search, newest first
 * with "Load more" paging by cursor, and one request's detail below the table.
 */
export async function logsPage() {
  /** @type {List<ApiKey>} */
  const { data: keys } = await admin("GET", "/keys");
  const keyNames = new Map(keys.map((key) => [key.id, key.name]));
  const filters = logFilters(keys);
  const results = h("div", { "aria-live": "polite" });
  const detail = h("div");
  /** @type {LoggedRequest[]} */
  let rows = [];
  /** @type {string | null} */
  let cursor = null;

  const show = async (/** @type {string} */ id) => {
    /** @type {LogDetail} */
    const logged = await admin("GET", `/logs/${encodeURIComponent(id)}`);
    detail.replaceChildren(requestDetail(logged, keyNames));
    detail.querySelector("h2")?.focus();
  };
  const load = async (/** @type {boolean} */ fresh) => {
    if (fresh) cursor = null;
    try {
      /** @type {LogPage} */
      const page = await admin("GET", `/logs?${logQuery(filters, cursor)}`);
      rows = fresh ? page.data : [...rows, ...page.data];
      cursor = page.next_cursor;
      results.replaceChildren(
        logTable(rows, keyNames, show),
        pageEnd(rows, cursor, () => load(false)),
      );
      // A request-id search that finds one request opens it.
      if (fresh && filters.requestId.value.trim() && rows.length === 1) await show(rows[0].request_id);
    } catch (error) {
      results.replaceChildren(notice(errorMessage(error), "error"));
    }
  };
  const form = filterForm("Search", filters.fields, async () => {
    detail.replaceChildren();
    const { since, until } = filters;
    if (since.value && until.value && since.value > until.value) {
      results.replaceChildren(notice("'From' is after 'to': no request can match.", "error"));
      return;
    }
    await load(true);
  });
  await load(true);
  return h("div", {}, form, results, detail);
}

/**
 * The filters: their inputs, which the query reads, and their labelled fields.
 * @param {ApiKey[]} keys
 */
function logFilters(keys) {
  const inputs = {
    requestId: h("input", { type: "search", placeholder: "x-request-id or the client's own", spellcheck: false }),
    key: keyFilter(keys),
    model: h("input", { type: "text", placeholder: "asked or answering" }),
    status: select(STATUSES),
    backend: h("input", { type: "text" }),
    since: h("input", { type: "datetime-local" }),
    until: h("input", { type: "datetime-local" }),
  };
  return {
    ...inputs,
    fields: [
      field("Request id", inputs.requestId),
      field("Key", inputs.key),
      field("Model", inputs.model),
      field("Status", inputs.status),
      field("Backend", inputs.backend),
      field("From", inputs.since),
      field("To", inputs.until),
    ],
  };
}

/**
 * The query for a page of the log that the filters match.
 * @param {ReturnType<typeof logFilters>} filters
 * @param {string | null} cursor where the page starts: after the last request shown, or at the newest when null
 */
function logQuery(filters, cursor) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const set = (/** @type {string} */ name, /** @type {string} */ value) =>
    value.trim() && params.set(name, value.trim());
  set("request_id", filters.requestId.value);
  set("key_id", filters.key.value);
  set("model", filters.model.value);
  set("status", filters.status.value);
  set("backend", filters.backend.value);
  // datetime-local is the operator's local time: sent as an instant.
  if (filters.since.value) params.set("since", new Date(filters.since.value).toISOString());
  if (filters.until.value) params.set("until", new Date(filters.until.value).toISOString());
  if (cursor) params.set("cursor", cursor);
  return params;
}

/**
 * The requests found so far, each with a button that opens its detail.
 * @param {LoggedRequest[]} rows
 * @param {Map<string, string>} keyNames
 * @param {(id: string) => Promise<void>} show
 */
function logTable(rows, keyNames, show) {
  return table(
    `${rows.length} request${rows.length === 1 ? "" : "s"}, newest first`,
    ["Time", "Status", "Key", "Model", "Backend", "Tokens in / out", "TTFT", "Duration", "Finish", ""],
    rows.map((row) => [
      h("time", { dateTime: row.created_at }, formatTime(row.created_at)),
      h("span", { class: `badge ${row.status < 400 ? "active" : "revoked"}` }, String(row.status)),
      keyNames.get(row.key_id) ?? row.key_id,
      row.model_answered && row.model_answered !== row.model_asked
        ? `${row.model_asked} → ${row.model_answered}`
        : row.model_asked,
      orDash(row.backend_id),
      `${formatNumber(row.prompt_tokens)} / ${formatNumber(row.completion_tokens)}`,
      ms(row.ttft_ms),
      ms(row.duration_ms),
      orDash(row.finish_reason ?? row.error_code),
      h(
        "button",
        { type: "button", "aria-label": `Details of request ${row.request_id}`, onclick: () => show(row.request_id) },
        "Details",
      ),
    ]),
  );
}

/**
 * Below the table: "Load more" while the log has older matches, or that there are no more.
 * @param {LoggedRequest[]} rows
 * @param {string | null} cursor
 * @param {() => Promise<void>} loadMore
 */
function pageEnd(rows, cursor, loadMore) {
  if (cursor) return h("button", { type: "button", onclick: loadMore }, "Load more");
  return rows.length ? h("p", { class: "muted" }, "No more requests.") : "";
}

/**
 * One logged request, every field, with its bodies when its key logs them.
 * @param {LogDetail} logged
 * @param {Map<string, string>} keyNames
 */
function requestDetail(logged, keyNames) {
  /** @type {[string, string][]} */
  const facts = [
    ["Request id", logged.request_id],
    ["Client's request id", orDash(logged.client_request_id)],
    ["Arrived", formatTime(logged.created_at)],
    ["Key", `${keyNames.get(logged.key_id) ?? ""} (${logged.key_id})`],
    ["Endpoint", logged.endpoint],
    ["Model asked", logged.model_asked],
    ["Model that answered", orDash(logged.model_answered)],
    ["Backend", orDash(logged.backend_id)],
    ["Status", String(logged.status)],
    ["Error code", orDash(logged.error_code)],
    ["Streamed", logged.stream ? "yes" : "no"],
    ["Prompt tokens", formatNumber(logged.prompt_tokens)],
    ["Cached prompt tokens", orDash(logged.cached_tokens)],
    ["Completion tokens", formatNumber(logged.completion_tokens)],
    ["Cost", formatMoney(logged.cost)],
    ["Time to first token", ms(logged.ttft_ms)],
    ["Duration", ms(logged.duration_ms)],
    ["Finish reason", orDash(logged.finish_reason)],
    ["Backends tried", String(logged.attempts)],
    ["Fallbacks", String(logged.fallbacks)],
    ["Country", orDash(logged.country)],
    ["Trace id", orDash(logged.trace_id)],
  ];
  return h(
    "section",
    { class: "card", "aria-label": "Request detail" },
    h("h2", { tabIndex: -1 }, `Request ${logged.request_id}`),
    h(
      "dl",
      { class: "facts" },
      facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    ),
    logged.bodies
      ? [
          h("h3", {}, "Request body"),
          h("pre", {}, logged.bodies.request_body ?? "–"),
          h("h3", {}, "Response body"),
          h("pre", {}, logged.bodies.response_body ?? "–"),
        ]
      : h("p", { class: "muted" }, "Bodies are not kept for this key (its log_bodies is off, or they aged out)."),
  );
}
