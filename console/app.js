// The console: a sign-in form, then one page per hash route (#/keys, #/usage, …), each rendered
// into <main> from the admin API. Links and buttons are real <a>/<button> elements, so the keyboard
// (Tab, Enter, Space) reaches everything; after a route change focus moves to the page's heading.
import { errorMessage, session } from "./api.js";
import { field, h, notice } from "./dom.js";
import { backendsPage } from "./pages/backends.js";
import { dashboardPage } from "./pages/dashboard.js";
import { keysPage } from "./pages/keys.js";
import { logsPage } from "./pages/logs.js";
import { modelsPage } from "./pages/models.js";
import { playgroundPage } from "./pages/playground.js";
import { usagePage } from "./pages/usage.js";

/** @type {Record<string, [title: string, page: () => Promise<Node>]>} */
const pages = {
  keys: ["Keys", keysPage],
  usage: ["Usage", usagePage],
  dashboard: ["Dashboard", dashboardPage],
  logs: ["Logs", logsPage],
  backends: ["Backends", backendsPage],
  models: ["Models", modelsPage],
  playground: ["Playground", playgroundPage],
};

// index.html has these elements.
const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
const signOut = /** @type {HTMLButtonElement} */ (document.getElementById("sign-out"));

function signInPage() {
  const token = h("input", { type: "password", autocomplete: "current-password", required: true, autofocus: true });
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "card narrow",
      async onsubmit(event) {
        event.preventDefault();
        // Checked before it is kept: a wrong token is never stored.
        const response = await fetch("/admin/keys", {
          headers: { authorization: `Bearer ${token.value.trim()}` },
        }).catch((error) => error);
        if (response instanceof Response && response.ok) {
          session.signIn(token.value.trim());
          if (!location.hash) location.hash = "#/keys";
          return render();
        }
        const reason =
          response instanceof Response
            ? response.status === 401
              ? "That admin token is not valid."
              : `The gateway answered ${response.status}.`
            : response.message;
        status.replaceChildren(notice(reason, "error"));
      },
    },
    h("h1", { tabIndex: -1 }, "Sign in"),
    h(
      "p",
      {},
      "The gateway's ADMIN_TOKEN. It is kept in this tab only (sessionStorage) and sent as a bearer token to /admin.",
    ),
    field("Admin token", token),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  return form;
}

async function render() {
  const signedIn = Boolean(session.token);
  nav.hidden = !signedIn;
  const route = location.hash.replace(/^#\//, "") || "keys";
  if (!signedIn) {
    document.title = "Sign in · moxie console";
    main.replaceChildren(signInPage());
    main.querySelector("input")?.focus();
    return;
  }
  const known = pages[route];
  if (!known) {
    // An unknown route says so, rather than showing another page under its address.
    document.title = "Not found · moxie console";
    main.replaceChildren(h("h1", {}, "Not found"), notice(`There is no page '${route}'.`, "error"));
    return;
  }
  const [title, page] = known;
  document.title = `${title} · moxie console`;
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#/${route}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const heading = h("h1", { tabIndex: -1 }, title);
  const body = h("div", {}, notice("Loading…"));
  main.replaceChildren(heading, body);
  heading.focus();
  try {
    body.replaceChildren(await page());
  } catch (error) {
    body.replaceChildren(notice(errorMessage(error), "error"));
  }
}

signOut.addEventListener("click", () => {
  session.signOut();
  render();
});
window.addEventListener("moxie:signed-out", render);
window.addEventListener("hashchange", render);
render();
