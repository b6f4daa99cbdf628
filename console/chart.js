// A stacked bar chart in plain SVG: one bar per day, one colour per series. Hand-written because
// it is ~100 lines with no dependency, and a charting library would need a build step or a CDN
// (which the console's Content-Security-Policy does not allow).
import { h, svg } from "./dom.js";

/** Series colours are the stylesheet's (.series-0 … .series-7), so they follow its light and dark schemes. */
const SERIES_CLASSES = 8;
const WIDTH = 640;
const HEIGHT = 240;
const PAD = { right: 8, top: 8, bottom: 28 };
/** An axis label's character width at its font size (11 units), to leave room for the widest tick label. */
const CHARACTER_WIDTH = 6.5;

/** @typedef {{ name: string, values: Record<string, number> }} Series One colour: its value per day. */
/**
 * @typedef {object} Scale
 * @property {(value: number) => string} format how a value reads on the axis and in the tooltips
 * @property {boolean} integer whether only whole values make sense (requests, tokens): no fractional ticks
 * @property {(bucket: string) => string} [label] how a bar is named under the axis; a day's month and day by default
 */

/**
 * Ticks from 0 up to at least `max`, 1, 2 or 5 times a power of ten apart, about four of them.
 * @param {number} max
 * @param {boolean} integer
 */
export function ticks(max, integer) {
  const rough = (max > 0 ? max : 1) / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(
    integer ? 1 : 0,
    [1, 2, 5, 10].map((multiple) => multiple * power).find((s) => s >= rough) ?? rough,
  );
  const count = Math.ceil((max > 0 ? max : 1) / step - 1e-9);
  // toPrecision drops the float noise of i × step (0.30000000000000004).
  return Array.from({ length: count + 1 }, (_, index) => Number((index * step).toPrecision(12)));
}

/**
 * days: ["2026-12-01", …]; series: [{ name, values: { [day]: number } }]. Each bar has a <title>
 * (the tooltip, and what a screen reader reads); the legend names every series as text.
 * @param {string} title
 * @param {string[]} days
 * @param {Series[]} series
 * @param {Scale} scale
 */
export function stackedBars(title, days, series, scale) {
  const totals = days.map((day) => series.reduce((sum, one) => sum + (one.values[day] ?? 0), 0));
  const axis = ticks(Math.max(0, ...totals), scale.integer);
  const top = axis[axis.length - 1];
  const labels = axis.map(scale.format);
  const left = 8 + CHARACTER_WIDTH * Math.max(...labels.map((label) => label.length));
  const plotWidth = WIDTH - left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / Math.max(1, days.length);
  const barWidth = Math.max(2, Math.min(48, slot * 0.7));
  const y = (/** @type {number} */ value) => PAD.top + plotHeight - (value / top) * plotHeight;

  const chart = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" },
    svg("title", {}, title),
  );
  axis.forEach((tick, index) => {
    chart.append(
      svg("line", { x1: left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick), class: "grid-line" }),
      svg("text", { x: left - 4, y: y(tick) + 4, "text-anchor": "end", class: "axis" }, labels[index]),
    );
  });
  days.forEach((day, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
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
            class: seriesClass(seriesIndex),
            "data-day": day,
          },
          svg("title", {}, `${day} · ${one.name}: ${scale.format(value)}`),
        ),
      );
      base += value;
    });
    // Label every day when they fit, else about eight of them.
    if (days.length <= 10 || index % Math.ceil(days.length / 8) === 0) {
      chart.append(
        svg(
          "text",
          { x: x + barWidth / 2, y: HEIGHT - 8, "text-anchor": "middle", class: "axis" },
          scale.label ? scale.label(day) : day.slice(5),
        ),
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
          svg("rect", { width: 12, height: 12, class: seriesClass(index) }),
        ),
        " ",
        one.name,
      ),
    ),
  );
  return h("figure", { class: "chart-figure" }, chart, legend);
}

/** @param {number} index */
function seriesClass(index) {
  return `series series-${index % SERIES_CLASSES}`;
}
