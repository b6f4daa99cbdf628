// A stacked bar chart in plain SVG: one bar per day, one colour per series. Hand-written because
// it is ~60 lines with no dependency, and a charting library would need a build step or a CDN
// (which the console's Content-Security-Policy does not allow).
import { h, svg } from "./dom.js";

const COLOURS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
const WIDTH = 640;
const HEIGHT = 240;
const PAD = { left: 48, right: 8, top: 8, bottom: 28 };

/** @typedef {{ name: string, values: Record<string, number> }} Series One colour: its value per day. */

/**
 * days: ["2026-12-01", …]; series: [{ name, values: { [day]: number } }]. Each bar has a <title>
 * (the tooltip, and what a screen reader reads); the legend names every series as text.
 * @param {string} title
 * @param {string[]} days
 * @param {Series[]} series
 */
export function stackedBars(title, days, series) {
  const totals = days.map((day) => series.reduce((sum, one) => sum + (one.values[day] ?? 0), 0));
  const max = Math.max(1e-9, ...totals);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / Math.max(1, days.length);
  const barWidth = Math.max(2, Math.min(48, slot * 0.7));
  const y = (/** @type {number} */ value) => PAD.top + plotHeight - (value / max) * plotHeight;

  const chart = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" },
    svg("title", {}, title),
  );
  for (const tick of [0, 0.5, 1]) {
    chart.append(
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(max * tick), y2: y(max * tick), class: "grid-line" }),
      svg(
        "text",
        { x: PAD.left - 4, y: y(max * tick) + 4, "text-anchor": "end", class: "axis" },
        formatNumber(max * tick),
      ),
    );
  }
  days.forEach((day, index) => {
    const x = PAD.left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    series.forEach((one, seriesIndex) => {
      const value = one.values[day] ?? 0;
      if (value <= 0) return;
      chart.append(
        svg(
          "rect",
          {
            x,
            y: y(base + value),
            width: barWidth,
            height: y(base) - y(base + value),
            fill: COLOURS[seriesIndex % COLOURS.length],
            "data-day": day,
          },
          svg("title", {}, `${day} · ${one.name}: ${formatNumber(value)}`),
        ),
      );
      base += value;
    });
    // Label every day when they fit, else about eight of them.
    if (days.length <= 10 || index % Math.ceil(days.length / 8) === 0) {
      chart.append(
        svg("text", { x: x + barWidth / 2, y: HEIGHT - 8, "text-anchor": "middle", class: "axis" }, day.slice(5)),
      );
    }
  });

  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Series" },
    series.map((one, index) =>
      h(
        "li",
        {},
        svg(
          "svg",
          { width: 12, height: 12, "aria-hidden": "true" },
          svg("rect", { width: 12, height: 12, fill: COLOURS[index % COLOURS.length] }),
        ),
        " ",
        one.name,
      ),
    ),
  );
  return h("figure", { class: "chart-figure" }, chart, legend);
}

/** @param {number} value */
export function formatNumber(value) {
  if (value === 0) return "0";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
  return Number(value.toPrecision(3)).toString();
}
