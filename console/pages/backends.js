import { admin, errorMessage } from "../api.js";
import { confirmingButton, field, h, listOrNull, liveTable, notice } from "../dom.js";
import { formatNumber } from "../format.js";
import { refreshWhileShown } from "../live.js";
/** @import { Backend, List } from "../types.js" */

/** How often the page asks the pool again (the pool itself polls each backend every HEALTH_POLL_SECONDS, 5 by default). */
const REFRESH_MS = 5_000;

/**
 * Backends: live health and load from the pool, whether requests go there, context served; add,
 * drain, remove. The table refreshes in place every few seconds while the page is shown.
 */
export async function backendsPage() {
  const page = h("div");
  const status = h("div", { "aria-live": "polite" });
  const updated = h("span", { class: "muted" });
  const backends = liveTable("Backends", ["Backend", "Health", "Routing", "Deployments", "Load", "Context", ""], {
    stackOnPhone: true,
  });
  /**
   * Each backend's action buttons, kept from one refresh to the next while what they do is unchanged,
   * so a refresh takes neither the focus nor a pending confirmation from them.
   * @type {Map<string, { signature: string, element: HTMLElement }>}
   */
  const actions = new Map();

  const refresh = async () => {
    /** @type {List<Backend>} */
    const { data } = await admin("GET", "/backends");
    for (const id of actions.keys()) if (!data.some((backend) => backend.id === id)) actions.delete(id);
    backends.update(
      data.map((backend) => {
        const signature = `${backend.draining}:${backend.source}`;
        let kept = actions.get(backend.id);
        if (kept?.signature !== signature) {
          kept = { signature, element: actionsOf(backend, act) };
          actions.set(backend.id, kept);
        }
        return { key: backend.id, cells: [...cellsOf(backend), kept.element] };
      }),
    );
  };
  /** Runs an action, then shows the pool as it is after it; a failure is shown, not thrown. */
  const act = async (/** @type {() => Promise<unknown>} */ work) => {
    try {
      await work();
      status.replaceChildren();
      await refresh();
    } catch (error) {
      status.replaceChildren(notice(errorMessage(error), "error"));
    }
  };

  await refresh();
  refreshWhileShown(page, REFRESH_MS, refresh, updated);
  page.replaceChildren(
    h(
      "p",
      { class: "toolbar" },
      h("button", { type: "button", onclick: () => act(async () => {}) }, "Refresh now"),
      updated,
    ),
    status,
    backends.element,
    addForm(act),
  );
  return page;
}

/**
 * The cells of a backend's row, but its actions.
 * @param {Backend} backend
 */
function cellsOf(backend) {
  return [
    h(
      "div",
      { class: "stack" },
      h("span", {}, h("code", {}, backend.id), " ", h("span", { class: "badge" }, backend.source)),
      h("small", { class: "wrap" }, backend.url),
    ),
    health(backend),
    routing(backend),
    h("span", { class: "wrap" }, backend.models.join(", ") || "–"),
    h(
      "div",
      { class: "stack" },
      h("small", {}, `${count(backend.queued)} queued`),
      h("small", {}, `${backend.inflight} in flight`),
      h("small", {}, `${count(backend.free_kv_slots)} free KV slots`),
    ),
    backend.max_context_length === null ? "–" : formatNumber(backend.max_context_length),
  ];
}

/** @param {number | null} value */
const count = (value) => (value === null ? "–" : String(value));

/**
 * What the last health probe found, and why it failed.
 * @param {Backend} backend
 */
function health(backend) {
  const checked = Date.parse(backend.checked_at) > 0;
  const label = backend.ready ? "ready" : checked ? "down" : "not checked yet";
  return h(
    "div",
    { class: "stack" },
    h("span", { class: `badge ${backend.ready ? "active" : "revoked"}` }, label),
    backend.error ? h("small", { class: "wrap error-text" }, backend.error) : null,
    checked ? h("small", { class: "muted" }, `checked ${new Date(backend.checked_at).toLocaleTimeString()}`) : null,
  );
}

/**
 * Whether the pool sends requests there, and why not, in the order the pool decides: a draining or
 * unhealthy backend gets none whatever its circuit says (the circuit counts failed requests only,
 * so it stays closed while health probes fail), then an open circuit refuses until its cooldown ends.
 * @param {Backend} backend
 */
function routing(backend) {
  /** @type {[string, string, string]} */
  const [label, kind, why] = backend.draining
    ? ["draining", "warning", "no new requests"]
    : !backend.ready
      ? ["not routed", "revoked", "until a health check passes"]
      : backend.circuit === "open"
        ? ["circuit open", "revoked", "after failed requests, until the cooldown ends"]
        : backend.circuit === "half-open"
          ? ["circuit half-open", "warning", "one trial request decides"]
          : ["routed", "active", "circuit closed"];
  return h("div", { class: "stack" }, h("span", { class: `badge ${kind}` }, label), h("small", {}, why));
}

/**
 * Drain or undrain; Remove for a backend added through the API, Reset for one saved over its BACKENDS
 * entry; none for a BACKENDS entry, which only the gateway's configuration can remove.
 * @param {Backend} backend
 * @param {(work: () => Promise<unknown>) => Promise<void>} act
 */
function actionsOf(backend, act) {
  const path = `/backends/${encodeURIComponent(backend.id)}`;
  const drain = h(
    "button",
    {
      type: "button",
      onclick: () => act(() => admin("POST", `${path}/drain`, { draining: !backend.draining })),
    },
    backend.draining ? "Undrain" : "Drain",
  );
  drain.setAttribute("aria-label", `${backend.draining ? "Undrain" : "Drain"} backend ${backend.id}`);
  const remove =
    backend.source === "configured"
      ? null
      : confirmingButton(backend.source === "override" ? "Reset" : "Remove", `backend ${backend.id}`, () =>
          act(() => admin("DELETE", path)),
        );
  return h("div", { class: "actions" }, drain, remove);
}

/** @param {(work: () => Promise<unknown>) => Promise<void>} act */
function addForm(act) {
  const id = h("input", { type: "text", required: true, pattern: "[A-Za-z0-9._\\-]{1,64}" });
  const url = h("input", { type: "url", required: true, placeholder: "https://gpu0.example.com" });
  const models = h("input", { type: "text", placeholder: "what its /health reports" });
  const secret = h("input", { type: "text", placeholder: "MOXIE_BACKEND_SECRET" });
  const form = h(
    "form",
    {
      class: "card",
      async onsubmit(event) {
        event.preventDefault();
        await act(async () => {
          await admin("POST", "/backends", {
            id: id.value,
            url: url.value,
            models: listOrNull(models) ?? [],
            secret_name: secret.value || null,
          });
          form.reset();
        });
      },
    },
    h("h2", {}, "Add a backend"),
    h(
      "div",
      { class: "grid" },
      field("Id", id),
      field("URL", url),
      field("Deployments", models, "comma-separated; empty = as reported"),
      field("Secret name", secret, "the Worker secret holding its bearer token"),
    ),
    h("button", { type: "submit" }, "Add backend"),
  );
  return form;
}
