// Charts on uPlot (vendored, global `uPlot`): a line chart with a legend, and sparklines.
//
// Chart elements carry their state for people and tests alike: data-state (loading, ready, empty,
// stale), data-series (lines drawn), data-filled (lines with at least one value) and
// data-render-ms (time spent building the chart).

import { h, fill } from "./dom.js";
import { format, naturalSort, utc } from "./format.js";

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
  "#9c755f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
  "#7f7f7f", "#ff7f0e", "#bab0ac"];
export const color = (i) => (i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137.5) % 360}, 55%, 48%)`);

/** Periods (seconds) a chart may use: whole minutes and hours tile the store's roll-ups exactly. */
export const PERIODS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** The smallest period that keeps a line at or under `maxPoints` buckets over `seconds`. */
export function periodFor(seconds, maxPoints = 360, minimum = 10) {
  return PERIODS.find((p) => p >= minimum && seconds / p <= maxPoints) || PERIODS[PERIODS.length - 1];
}

/** Lines carry no dots, except values with a gap on both sides (else they would be invisible). */
function isolatedPoints(u, seriesIdx, show) {
  if (show) return null;
  const ys = u.data[seriesIdx];
  const found = [];
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] !== null && (i === 0 || ys[i - 1] === null) && (i === ys.length - 1 || ys[i + 1] === null)) found.push(i);
  }
  return found.length ? found : null;
}
const LINE_POINTS = { show: false, filter: isolatedPoints, size: 5 };
const AXIS = { stroke: "#66737f", grid: { stroke: "#eef1f5", width: 1 }, ticks: { stroke: "#dde3ea", width: 1 } };

/** Ticks and labels in UTC, 24-hour: "18:40", with the date under the first tick and at midnight. */
const utcDate = (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");
const pad = (n) => String(n).padStart(2, "0");
function utcTicks(u, ticks) {
  const span = u.scales.x.max - u.scales.x.min;
  return ticks.map((t, i) => {
    const d = new Date(t * 1000);
    const day = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    if (span > 4 * 86400) return i === 0 ? `${day}\nUTC` : day;
    if (i === 0) return `${time}\n${day} UTC`;
    return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 ? `${time}\n${day}` : time;
  });
}
const X_AXIS = { ...AXIS, values: utcTicks };

/**
 * Align series of [epoch seconds, value] rows on one time axis (the union of their times, gaps
 * as null): returns [times, ...values] as uPlot wants it.
 */
export function align(rowsPerLine) {
  const set = new Set();
  for (const rows of rowsPerLine) for (const [t] of rows) set.add(t);
  const times = [...set].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  return [times, ...rowsPerLine.map((rows) => {
    const values = new Array(times.length).fill(null);
    for (const [t, v] of rows) values[index.get(t)] = v;
    return values;
  })];
}

/** A line chart with a clickable legend; `onZoom(startSeconds, endSeconds)` after a drag on it. */
export class LineChart {
  constructor(host, { height = 340, onZoom = null, label = "Chart" } = {}) {
    this.height = height;
    this.onZoom = onZoom;
    this.hidden = new Set();
    this.plot = null;
    this.key = "";
    this.window = [0, 0];
    this.unit = "";
    this.chart = h("div", { class: "chart", role: "img", aria: { label }, dataset: { state: "idle", series: "0", filled: "0" } });
    this.message = h("p", { class: "chart-empty", hidden: true });
    this.legend = h("ul", { class: "legend", aria: { label: "Legend (click a line to show or hide it)" } });
    this.at = h("p", { class: "legend-at muted small" });
    const wrap = h("div", { class: "chart-wrap" }, this.chart, this.message);
    wrap.style.minHeight = `${height}px`;  // CSSOM, which the page's CSP allows (style attributes it does not)
    fill(host, wrap, this.at, this.legend);
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
    });
    this.resize.observe(this.chart);
  }

  width() { return Math.max(this.chart.clientWidth, 300); }

  loading() { if (this.chart.dataset.state !== "ready") this.chart.dataset.state = "loading"; }
  stale() { this.chart.dataset.state = "stale"; }

  empty(text) {
    this.destroyPlot();
    this.legend.replaceChildren();
    this.message.textContent = text;
    this.message.hidden = false;
    Object.assign(this.chart.dataset, { state: "empty", series: "0", filled: "0", points: "0" });
  }

  /**
   * lines: [{ label, values }] aligned with `times` (epoch seconds); band: { low, high } value
   * arrays shaded behind a single line; window: [start, end] seconds of the x axis.
   */
  show(times, lines, { unit = "", window, band = null } = {}) {
    const started = performance.now();
    const order = lines.map((_, i) => i).sort((a, b) => naturalSort(lines[a].label, lines[b].label));
    const sorted = order.map((i) => lines[i]);
    const data = [times, ...sorted.map((line) => line.values)];
    if (band) data.push(band.low, band.high);
    this.window = window || [times[0], times[times.length - 1]];
    this.unit = unit;
    const key = JSON.stringify([unit, Boolean(band), sorted.map((line) => line.label)]);
    this.message.hidden = true;
    if (this.plot && this.key === key) {
      this.plot.setData(data);
    } else {
      this.destroyPlot();
      this.plot = new uPlot(this.options(sorted, unit, band), data, this.chart);
      this.key = key;
      this.buildLegend(sorted);
    }
    this.readings(null);
    const filled = sorted.filter((line) => line.values.some((v) => v !== null)).length;
    const points = sorted.reduce((sum, line) => sum + line.values.filter((v) => v !== null).length, 0);
    Object.assign(this.chart.dataset, {
      state: "ready", series: String(sorted.length), filled: String(filled), points: String(points),
      renderMs: String(Math.round(performance.now() - started)),
    });
  }

  options(sorted, unit, band) {
    const series = [{}, ...sorted.map((line, i) => ({
      label: line.label, stroke: color(i), width: sorted.length > 30 ? 1 : 1.5, show: !this.hidden.has(line.label), dash: line.dash,
      points: LINE_POINTS, value: (u, v) => format(v, unit),
    }))];
    const options = {
      width: this.width(), height: this.height,
      legend: { show: false },
      cursor: { focus: { prox: 16 }, drag: { x: Boolean(this.onZoom), y: false, setScale: false } },
      focus: { alpha: 0.3 },
      tzDate: utcDate,
      scales: { x: { time: true, range: () => this.window } },
      axes: [X_AXIS, { ...AXIS, size: 80, values: (u, ticks) => ticks.map((v) => format(v, unit)) }],
      series,
      hooks: {
        setCursor: [(u) => this.readings(u.cursor.idx)],
        setSelect: [(u) => {
          if (!this.onZoom || u.select.width < 8) return;
          const start = u.posToVal(u.select.left, "x");
          const end = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          this.onZoom(Math.floor(start), Math.ceil(end));
        }],
      },
    };
    if (band) {
      const n = sorted.length;
      series.push({ label: "min", stroke: "transparent", points: { show: false } },
        { label: "max", stroke: "transparent", points: { show: false } });
      options.bands = [{ series: [n + 2, n + 1], fill: "rgba(78, 121, 167, 0.14)" }];
    }
    return options;
  }

  buildLegend(sorted) {
    this.legend.replaceChildren(...sorted.map((line, i) => {
      const reading = h("span", { class: "reading" });
      const item = h("li", { class: ["legend-item", this.hidden.has(line.label) && "off"] },
        h("button", {
          type: "button", class: "legend-toggle", title: line.label, "aria-pressed": String(!this.hidden.has(line.label)),
          on: {
            click: (event) => {
              const show = this.hidden.has(line.label);
              if (show) this.hidden.delete(line.label); else this.hidden.add(line.label);
              item.classList.toggle("off", !show);
              event.currentTarget.setAttribute("aria-pressed", String(show));
              this.plot.setSeries(i + 1, { show });
            },
          },
        }, h("span", { class: "swatch", dataset: { color: color(i) } }), h("span", { class: "label", text: line.label }), reading));
      return item;
    }));
    // Swatch colours through the CSSOM (allowed by the page's CSP, unlike style attributes).
    for (const swatch of this.legend.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.color;
  }

  /** Legend values at the cursor, or each line's latest value when the cursor is away. */
  readings(idx) {
    if (!this.plot) return;
    const at = idx === null || idx === undefined ? null : this.plot.data[0][idx];
    this.at.textContent = at === null ? "Latest values (point at the chart for others)" : `Values at ${utc(at * 1000)}`;
    const items = this.legend.children;
    for (let i = 0; i < items.length; i++) {
      const values = this.plot.data[i + 1];
      let value = null;
      if (idx !== null && idx !== undefined) value = values[idx];
      else for (let j = values.length - 1; j >= 0 && value === null; j--) value = values[j];
      items[i].querySelector(".reading").textContent = format(value, this.unit);
    }
  }

  destroyPlot() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.key = "";
  }

  destroy() {
    this.destroyPlot();
    this.resize.disconnect();
  }
}

/** A small area chart in `box` ([xs, ys]); returns the plot to pass back next time (or null). */
export function sparkline(box, data, previous, { height = 44, fromZero = true } = {}) {
  if (data[0].length < 2) {  // a line needs two points; a lone dot says nothing
    if (previous) previous.destroy();
    box.replaceChildren();
    box.dataset.points = String(data[0].length);
    return null;
  }
  box.dataset.points = String(data[0].length);
  if (previous && previous.root.isConnected) {
    previous.setData(data);
    return previous;
  }
  const plot = new uPlot({
    width: Math.max(box.clientWidth, 100), height, legend: { show: false }, cursor: { show: false },
    select: { show: false }, axes: [{ show: false }, { show: false }],
    scales: {
      x: { time: true },
      y: { range: (u, min, max) => [fromZero ? Math.min(0, min) : min, max > 0 ? max * 1.1 : 1] },
    },
    series: [{}, { stroke: "#2563eb", width: 1.5, fill: "rgba(37, 99, 235, 0.10)", points: LINE_POINTS }],
    tzDate: utcDate,
  }, data, box);
  new ResizeObserver(() => plot.setSize({ width: Math.max(box.clientWidth, 100), height })).observe(box);
  return plot;
}
