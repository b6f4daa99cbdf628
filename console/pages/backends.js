import { admin, errorMessage } from "../api.js";
import { field, h, listOrNull, notice, table } from "../dom.js";
/** @import { Backend, List } from "../types.js" */

const show = (/** @type {unknown} */ value) => (value === null || value === undefined ? "–" : String(value));

/** Backends: live health and load from the pool, context served, circuit; add, drain, remove. */
export async function backendsPage() {
  const page = h("div");
  /** @type {List<Backend>} */
  const { data: backends } = await admin("GET", "/backends");
  const status = h("div", { "aria-live": "polite" });
  const act = (/** @type {() => Promise<unknown>} */ work) => async () => {
    try {
      await work();
      page.replaceWith(await backendsPage());
    } catch (error) {
      status.replaceChildren(notice(errorMessage(error), "error"));
    }
  };
  const rows = backends.map((backend) => [
    h("code", {}, backend.id),
    backend.url,
    h(
      "span",
      { class: `badge ${backend.ready ? "active" : "revoked"}` },
      backend.draining ? "draining" : backend.ready ? "ready" : "down",
    ),
    backend.models.join(", "),
    show(backend.queued),
    show(backend.inflight),
    show(backend.free_kv_slots),
    show(backend.max_context_length),
    h("span", { class: `badge circuit-${backend.circuit}` }, backend.circuit),
    backend.error ?? "",
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          onclick: act(() =>
            admin("POST", `/backends/${encodeURIComponent(backend.id)}/drain`, { draining: !backend.draining }),
          ),
        },
        backend.draining ? "Undrain" : "Drain",
      ),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Remove backend ${backend.id}`,
          onclick: act(() => admin("DELETE", `/backends/${encodeURIComponent(backend.id)}`)),
        },
        "Remove",
      ),
    ),
  ]);

  const id = h("input", { type: "text", required: true, pattern: "[A-Za-z0-9._\\-]{1,64}" });
  const url = h("input", { type: "url", required: true, placeholder: "https://gpu0.example.com" });
  const models = h("input", { type: "text", placeholder: "what its /health reports" });
  const secret = h("input", { type: "text", placeholder: "MOXIE_BACKEND_SECRET" });
  const add = h(
    "form",
    {
      class: "card",
      onsubmit(event) {
        event.preventDefault();
        act(() =>
          admin("POST", "/backends", {
            id: id.value,
            url: url.value,
            models: listOrNull(models) ?? [],
            secret_name: secret.value || null,
          }),
        )();
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

  page.replaceChildren(
    h("p", {}, h("button", { type: "button", onclick: act(async () => {}) }, "Refresh")),
    status,
    table(
      "Backends",
      [
        "Id",
        "URL",
        "State",
        "Deployments",
        "Queued",
        "In flight",
        "Free KV slots",
        "Context served",
        "Circuit",
        "Last error",
        "",
      ],
      rows,
    ),
    add,
  );
  return page;
}
