// Builds the console's DOM. Text always goes in as text nodes (never innerHTML), so a key named
// "<img src=x onerror=…>" shows as those characters and runs nothing.

/**
 * h("button", { type: "button", onclick: f }, "Revoke"): an element with properties (on* are
 * listeners, "class" and data-/aria- names are attributes) and children (strings become text).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (
      name === "class" ||
      name.startsWith("data-") ||
      name.startsWith("aria-") ||
      name === "role" ||
      name === "for"
    ) {
      element.setAttribute(name, value === true ? "" : String(value));
    } else element[name] = value;
  }
  append(element, children);
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with attributes; text children become text nodes. */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A table with a header row; each row is a list of cells (strings or nodes). Scrolls sideways on a phone. */
export function table(caption, headings, rows) {
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabIndex: 0 },
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
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((cells) =>
              h(
                "tr",
                {},
                cells.map((cell) => h("td", {}, cell)),
              ),
            )
          : h("tr", {}, h("td", { colSpan: headings.length }, "None yet")),
      ),
    ),
  );
}

/** A labelled form field. */
export function field(label, input, hint) {
  input.id ||= `field-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", {}, hint) : null);
}

/** A status line that screen readers announce. */
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A number input's value, or null when empty. */
export function numberOrNull(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

/** A comma-separated input's items, or null when empty. */
export function listOrNull(input) {
  const items = input.value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  return items.length ? items : null;
}
