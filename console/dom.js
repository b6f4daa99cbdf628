// Builds the console's DOM. Text always goes in as text nodes (never innerHTML), so a key named
// "<img src=x onerror=…>" shows as those characters and runs nothing.

/** A child: a node, or text; null, undefined and false add nothing. */
/** @typedef {Node | string | number | false | null | undefined} Child */

/**
 * An element's properties (typed as the element's own, so listeners get their event's type) and
 * the attributes h() sets by name ("class", "for", data-/aria- names).
 * @template {keyof HTMLElementTagNameMap} K
 * @typedef {Partial<HTMLElementTagNameMap[K]> & Record<string, unknown>} Props
 */

/**
 * h("button", { type: "button", onclick: f }, "Revoke"): an element with properties (on* are
 * listeners, "class" and data-/aria- names are attributes) and children (strings become text).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props<K>} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (
      name === "class" ||
      name.startsWith("data-") ||
      name.startsWith("aria-") ||
      name === "role" ||
      name === "for"
    ) {
      element.setAttribute(name, value === true ? "" : String(value));
    } else Object.assign(element, { [name]: value });
  }
  append(element, children);
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

/**
 * An SVG element with attributes; text children become text nodes.
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number>} [attributes]
 * @param {...(Child | Child[])} children
 * @returns {SVGElementTagNameMap[K]}
 */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  append(element, children);
  return element;
}

/**
 * @param {Element} element
 * @param {(Child | Child[])[]} children
 */
function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(textOrNode(child));
  }
}

/** @param {Node | string | number} child */
function textOrNode(child) {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

/**
 * @typedef {object} TableOptions
 * @property {boolean} [stackOnPhone] on a phone, show each row as a card of "heading: value" lines
 *   instead of a table that scrolls sideways (for wide tables whose last columns hold the actions)
 */

/**
 * A table with a header row; each row is a list of cells (strings or nodes). Scrolls sideways on a phone.
 * @param {string} caption
 * @param {string[]} headings
 * @param {Child[][]} rows
 * @param {TableOptions} [options]
 */
export function table(caption, headings, rows, options) {
  const shown = liveTable(caption, headings, options);
  shown.update(rows.map((cells, index) => ({ key: String(index), cells })));
  return shown.element;
}

/** @typedef {{ key: string, cells: Child[] }} KeyedRow A row and what identifies it from one update to the next. */

/**
 * A table that a live page updates in place: rows are matched by key, and a cell given the very
 * node it already shows is left alone, so a focused button, or one armed for confirmation, stays as it is.
 * @param {string} caption
 * @param {string[]} headings
 * @param {TableOptions} [options]
 */
export function liveTable(caption, headings, options = {}) {
  const body = h("tbody");
  /** @type {Map<string, HTMLTableRowElement>} */
  const shown = new Map();
  const element = h(
    "div",
    {
      class: options.stackOnPhone ? "table-wrap stack-on-phone" : "table-wrap",
      role: "region",
      "aria-label": caption,
      tabIndex: 0,
    },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headings.map((heading) => h("th", { scope: "col" }, heading)),
        ),
      ),
      body,
    ),
  );
  return {
    element,
    /** @param {KeyedRow[]} rows */
    update(rows) {
      const keys = new Set(rows.map((row) => row.key));
      for (const [key, row] of shown) {
        if (keys.has(key)) continue;
        row.remove();
        shown.delete(key);
      }
      body.querySelector("tr.empty")?.remove();
      /** @type {Element | null} */
      let previous = null;
      for (const { key, cells } of rows) {
        const row =
          shown.get(key) ??
          h(
            "tr",
            {},
            // Each cell names its column, which a row shown as a card writes before its value.
            cells.map((_, index) => h("td", { "data-label": headings[index] })),
          );
        shown.set(key, row);
        cells.forEach((cell, index) => {
          const td = row.cells[index];
          if (!(cell instanceof Node && td.firstChild === cell && td.childNodes.length === 1))
            td.replaceChildren(...(cell === null || cell === undefined || cell === false ? [] : [textOrNode(cell)]));
        });
        // Moved only when out of place: moving a row would take the focus from a button in it.
        /** @type {Element | null} */
        const wanted = previous ? previous.nextElementSibling : body.firstElementChild;
        if (wanted !== row) body.insertBefore(row, wanted);
        previous = row;
      }
      if (rows.length === 0)
        body.append(h("tr", { class: "empty" }, h("td", { colSpan: headings.length }, "None yet")));
    },
  };
}

/** Fields made so far: each gets an id of its own, so two forms with the same labels (a key's edit form beside the create form) never share one. */
let fields = 0;

/**
 * A labelled form field.
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} input
 * @param {string} [hint]
 */
export function field(label, input, hint) {
  input.id ||= `field-${++fields}-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", {}, hint) : null);
}

/**
 * A select of [value, label] choices, in their order (a list, not an object: an object lists
 * number-like keys such as "429" first).
 * @param {[value: string, label: string][]} choices
 */
export function select(choices) {
  return h(
    "select",
    {},
    choices.map(([value, label]) => h("option", { value }, label)),
  );
}

/**
 * A card of filter fields and a submit button; `search` runs when it is sent, instead of the browser's navigation.
 * @param {string} label the button's
 * @param {HTMLElement[]} fields
 * @param {() => Promise<void>} search
 */
export function filterForm(label, fields, search) {
  return h(
    "form",
    {
      class: "card filters",
      async onsubmit(event) {
        event.preventDefault();
        await search();
      },
    },
    fields,
    h("button", { type: "submit" }, label),
  );
}

/**
 * A status line that screen readers announce.
 * @param {string} text
 * @param {"info" | "error"} [kind]
 */
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/**
 * A number input's value, or null when empty.
 * @param {HTMLInputElement} input
 */
export function numberOrNull(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

/**
 * A comma-separated input's items, or null when empty.
 * @param {HTMLInputElement} input
 */
export function listOrNull(input) {
  const items = input.value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

/**
 * A button that acts on its second press (no confirm() dialog): the first turns it into a
 * confirmation. confirmingButton("Revoke", "key alpha", …) reads "Revoke", then "Confirm revoke".
 * @param {string} label what it does
 * @param {string} subject what it acts on, for its accessible name
 * @param {() => Promise<void>} action
 */
export function confirmingButton(label, subject, action) {
  const verb = label.toLowerCase();
  const button = h(
    "button",
    {
      type: "button",
      class: "danger",
      async onclick() {
        if (button.dataset.armed !== "yes") {
          button.dataset.armed = "yes";
          button.textContent = `Confirm ${verb}`;
          button.setAttribute("aria-label", `Confirm ${verb} of ${subject}`);
          return;
        }
        await action();
      },
    },
    label,
  );
  button.setAttribute("aria-label", `${label} ${subject}`);
  return button;
}
