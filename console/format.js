// How the console writes numbers, money and times: one spelling on every page and in the chart.

/**
 * Model prices (price_per_million_tokens) and key budgets are in US dollars, so every spend is.
 * Under a dollar three significant digits are kept, so a request's $0.000032 does not show as $0.00.
 */
const SMALL_MONEY = new Intl.NumberFormat("en", { style: "currency", currency: "USD", maximumSignificantDigits: 3 });
const MONEY = new Intl.NumberFormat("en", { style: "currency", currency: "USD", minimumFractionDigits: 0 });

/** @param {number} value */
export function formatMoney(value) {
  return Math.abs(value) < 1 ? SMALL_MONEY.format(value) : MONEY.format(value);
}

/** @param {number} value */
export function formatNumber(value) {
  if (value === 0) return "0";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
  return Number(value.toPrecision(3)).toString();
}

const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * An instant in the browser's time zone, short enough for a table cell.
 * @param {string} iso
 */
export function formatTime(iso) {
  return TIME.format(new Date(iso));
}
