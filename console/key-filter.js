// The Key filter of the pages that show requests (Logs, Usage): one key, or all of them.
import { h } from "./dom.js";
/** @import { ApiKey } from "./types.js" */

/**
 * A select of the keys by name, after "All keys" (the empty value, which filters nothing).
 * @param {ApiKey[]} keys
 */
export function keyFilter(keys) {
  return h(
    "select",
    {},
    h("option", { value: "" }, "All keys"),
    keys.map((one) => h("option", { value: one.id }, one.name)),
  );
}
