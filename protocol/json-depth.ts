import type { ValidationErrorBody } from "./errors.ts";

/**
 * Objects and arrays a request body may nest. No field of the API needs more than a handful of
 * levels; unbounded nesting (in tool-call arguments or metadata, whose values are free-form)
 * only costs recursion further on, e.g. when the backend hands a request to its inference thread.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON text nests deeper than MAX_JSON_DEPTH. A single scan of the text, with no
 * recursion and nothing parsed, so checking costs nothing however deep the body goes.
 */
export function jsonTooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (char === 0x7d || char === 0x5d) depth--;
  }
  return false;
}

/** The 422 body for a request nested deeper than MAX_JSON_DEPTH, in the validation shape. */
export function jsonTooDeepBody(): ValidationErrorBody {
  return {
    detail: [
      { loc: ["body"], msg: `JSON should be nested at most ${MAX_JSON_DEPTH} levels deep`, type: "json_too_deep" },
    ],
  };
}
