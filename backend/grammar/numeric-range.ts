/**
 * EBNF (xgrammar's dialect) for JSON numbers within bounds. xgrammar 0.1.27 writes its own range
 * rules wrong (measured: maximum 120 admits 129, a decimal maximum 10 admits 10.5), so bounded
 * numbers get these rules instead. Bounds are inclusive integers; a decimal number's integer part
 * stays within them, and it equals the upper bound only without a fraction.
 */

const digits = (count: number) => (count === 0 ? "" : `[0-9]{${count}}`);
const allDigit = (text: string, digit: string) => [...text].every((char) => char === digit);

/** Alternatives for the digit strings of equal length from `low` to `high` (no leading zeros but for "0"). */
function sameLength(low: string, high: string): string[] {
  if (low.length === 0) return [""];
  const [lowFirst, highFirst] = [low[0], high[0]];
  const rest = low.length - 1;
  if (lowFirst === highFirst)
    return sameLength(low.slice(1), high.slice(1)).map((tail) => `"${lowFirst}" ${tail}`.trim());
  if (allDigit(low.slice(1), "0") && allDigit(high.slice(1), "9"))
    return [`[${lowFirst}-${highFirst}] ${digits(rest)}`.trim()];
  const alternatives = sameLength(low.slice(1), "9".repeat(rest)).map((tail) => `"${lowFirst}" ${tail}`.trim());
  const [first, last] = [Number(lowFirst) + 1, Number(highFirst) - 1];
  if (first <= last) alternatives.push(`[${first}-${last}] ${digits(rest)}`.trim());
  alternatives.push(...sameLength("0".repeat(rest), high.slice(1)).map((tail) => `"${highFirst}" ${tail}`.trim()));
  return alternatives;
}

/** Alternatives for the non-negative integers in [low, high]; high may be Infinity. */
function magnitudes(low: number, high: number): string[] {
  const alternatives: string[] = [];
  const lowText = String(low);
  const lastLength = high === Infinity ? lowText.length : String(high).length;
  for (let length = lowText.length; length <= lastLength; length++) {
    const from = length === lowText.length ? lowText : `1${"0".repeat(length - 1)}`;
    const to = high !== Infinity && length === lastLength ? String(high) : "9".repeat(length);
    alternatives.push(...sameLength(from, to));
  }
  if (high === Infinity) alternatives.push(`[1-9] ${digits(lowText.length)} [0-9]*`);
  return alternatives;
}

const FRACTION = `"." [0-9]+`;

/** Magnitudes in [low, high] with an optional fraction, except `high` itself (so the value stays <= high). */
function decimalMagnitudes(low: number, high: number): string[] {
  if (low === high) return [`"${high}"`];
  const below = magnitudes(low, high === Infinity ? Infinity : high - 1).map(
    (alternative) => `(${alternative}) (${FRACTION})?`,
  );
  return high === Infinity ? below : [...below, `"${high}"`];
}

/** The EBNF body of a rule for the integers (or decimals) in [low, high]; each bound may be infinite. */
export function numericRangeRule(low: number, high: number, decimal: boolean): string {
  const parts = decimal ? decimalMagnitudes : magnitudes;
  const alternatives: string[] = [];
  if (low < 0) alternatives.push(`"-" (${parts(Math.max(high < 0 ? -high : decimal ? 0 : 1, 0), -low).join(" | ")})`);
  if (high >= 0) alternatives.push(...parts(Math.max(low, 0), high));
  return alternatives.map((alternative) => `(${alternative})`).join(" | ");
}
