/**
 * JSON as Python's json.dumps(value, ensure_ascii=False) writes it, which is what mistral-common
 * encodes tool lists, calls and results with: ", " and ": " separators, nothing else added.
 * (A float such as 5.0 is 5 in JavaScript and stays 5.)
 */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    return `{${Object.entries(value)
      .filter(([, entry]) => entry !== undefined)
      .map(([key, entry]) => `${JSON.stringify(key)}: ${pythonJson(entry)}`)
      .join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
