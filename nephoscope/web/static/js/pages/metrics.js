// Metrics explorer: one metric, filtered by dimensions, grouped into lines, over a time range.
//
// API calls (within the session's scope):
//   GET /v2.0/metrics/names                                   the metric picker
//   GET /v2.0/metrics/dimensions/names?metric_name=           group-by and filter keys
//   GET /v2.0/metrics/dimensions/names/values?metric_name=&dimension_name=   filter values
//   GET /v2.0/metrics/statistics?name=&dimensions=&statistics=&period=&start_time=[&end_time]
//       &group_by=<key>|* or &merge_metrics=true              the chart (every page, joined by series)
// The period is chosen so a line has at most ~360 buckets (the chart is ~1,300 px wide): a day of
// 100 series is 100 × 288 rows, decimated by the server's roll-ups, not in the browser.

import { errorBox, fill, h } from "../dom.js";
import { duration, isoSeconds, naturalSort, parseUtc, plural, toMs, unitOf, utc, utcInput } from "../format.js";
import { LineChart, PERIODS, align, periodFor } from "../charts.js";

const RANGES = [
  { key: "15m", label: "15 min", seconds: 900 },
  { key: "1h", label: "1 h", seconds: 3600 },
  { key: "6h", label: "6 h", seconds: 6 * 3600 },
  { key: "24h", label: "24 h", seconds: 86400 },
  { key: "7d", label: "7 d", seconds: 7 * 86400 },
];
const STATISTICS = [["avg", "average"], ["max", "maximum"], ["min", "minimum"], ["sum", "sum"], ["count", "count"]];
const MAX_POINTS = 360;     // buckets per line at most: about one per 4 px
const MAX_BUCKETS = 1500;   // a period the user picks may not make more than this
const MAX_PAGES = 12;       // 120,000 rows: enough for 400 lines of a day
const REFRESH_S = 10;

export default {
  title: "Metrics",
  async render(view, ctx) {
    const p = ctx.route.params;
    const state = {
      metric: p.get("name") || "",
      groupBy: p.get("merge") === "1" ? "" : p.get("group") || "hostname",
      statistic: STATISTICS.some(([k]) => k === p.get("stat")) ? p.get("stat") : "avg",
      range: RANGES.some((r) => r.key === p.get("range")) || p.get("range") === "custom" ? p.get("range") : "1h",
      period: Number(p.get("period")) || 0,  // 0: automatic
      from: Number(p.get("from")) || 0,
      to: Number(p.get("to")) || 0,
      filters: p.getAll("filter").map((f) => [f.slice(0, f.indexOf(":")), f.slice(f.indexOf(":") + 1)]).filter(([k, v]) => k && v),
      auto: p.get("auto") !== "off",
      keys: [],
      seq: 0,
    };
    if (state.range === "custom" && !(state.from && state.to > state.from)) state.range = "1h";

    const control = (label, element) => h("label", { class: "control" }, h("span", { text: label }), element);
    const metric = h("select", { id: "metric" });
    const groupBy = h("select", { id: "group-by" });
    const statistic = h("select", { id: "statistic" }, STATISTICS.map(([k, label]) => h("option", { value: k, text: label })));
    const period = h("select", { id: "period" });
    const ranges = h("div", { class: "ranges", role: "group", aria: { label: "Time range" }, id: "ranges" });
    const from = h("input", { id: "range-from", class: "time-input", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off" });
    const to = h("input", { id: "range-to", class: "time-input", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off" });
    const custom = h("form", { class: "custom-range", aria: { label: "Custom time range (UTC)" } },
      h("label", { for: "range-from", text: "From (UTC)" }), from, h("label", { for: "range-to", text: "to" }), to,
      h("button", { type: "submit", text: "Show" }));
    const auto = h("input", { type: "checkbox", id: "auto-refresh" });
    const filterName = h("select", { id: "filter-name", aria: { label: "Dimension name" } });
    const filterValue = h("select", { id: "filter-value", aria: { label: "Dimension value" } });
    const filterAdd = h("button", { type: "button", id: "filter-add", text: "Add filter" });
    const chips = h("span", { id: "filter-chips", class: "chips" });
    const title = h("h2", { id: "chart-title" });
    const info = h("p", { id: "chart-info", class: "muted small" });
    const note = h("p", { id: "chart-note", class: "note", hidden: true });
    const problem = h("div", { id: "explorer-error" });
    const chartHost = h("div", { id: "chart-host" });

    view.append(
      h("div", { class: "page-head" }, h("h1", { text: "Metrics" }),
        h("p", { class: "muted", text: `Scope: ${ctx.session.describe()} · drag across the chart to zoom` })),
      h("section", { class: "card explorer", aria: { label: "Metric explorer" } },
        h("div", { class: "controls" },
          control("Metric", metric), control("Group by", groupBy), control("Statistic", statistic), control("Period", period),
          h("label", { class: "control auto", for: "auto-refresh" }, auto, `refresh every ${REFRESH_S} s`)),
        h("div", { class: "controls" }, ranges, custom),
        h("div", { class: "controls filters" }, h("span", { class: "label", text: "Filter" }), filterName, filterValue, filterAdd, chips),
        problem,
        h("div", { class: "chart-head" }, title, info),
        note,
        chartHost));

    const chart = new LineChart(chartHost, { label: "Metric chart", onZoom: (start, end) => {
      Object.assign(state, { range: "custom", from: start, to: end });
      markRange();
      refreshChart();
    } });
    chart.chart.id = "chart";
    ctx.onLeave(() => chart.destroy());

    const fillSelect = (select, options, selected) => {
      select.replaceChildren(...options.map(([value, label]) => h("option", { value, text: label })));
      if (options.some(([value]) => value === selected)) select.value = selected;
    };
    const scoped = (params) => ({ ...params, ...ctx.session.tenant() });
    const dimensions = () => [...state.filters.map(([k, v]) => `${k}:${v}`), ctx.session.regionFilter()].filter(Boolean).join(",");
    const fromInput = (value) => Math.floor(parseUtc(value) / 1000);

    function span() {
      if (state.range === "custom") return [state.from, state.to];
      const now = Math.floor(Date.now() / 1000);
      return [now - RANGES.find((r) => r.key === state.range).seconds, now];
    }

    /** The period in use: the user's, unless it would make too many buckets; else automatic. */
    function effectivePeriod() {
      const [start, end] = span();
      const auto = periodFor(end - start, MAX_POINTS);
      if (!state.period) return { period: auto, raised: false };
      if ((end - start) / state.period > MAX_BUCKETS) return { period: periodFor(end - start, MAX_BUCKETS), raised: true };
      return { period: state.period, raised: false };
    }

    function renderPeriods() {
      const [start, end] = span();
      fillSelect(period, [["0", `auto (${duration(periodFor(end - start, MAX_POINTS))})`],
        ...PERIODS.map((s) => [String(s), duration(s)])], String(state.period));
    }

    function writeHash() {
      const params = { name: state.metric, group: state.groupBy, merge: state.groupBy === "" ? "1" : "", stat: state.statistic, range: state.range,
        period: state.period || "", from: state.range === "custom" ? state.from : "", to: state.range === "custom" ? state.to : "",
        auto: state.auto ? "" : "off", filter: state.filters.map(([k, v]) => `${k}:${v}`) };
      ctx.setParams(params);
    }

    function markRange() {
      for (const button of ranges.children) button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
      const [start, end] = span();
      from.value = utcInput(start * 1000);
      to.value = utcInput(end * 1000);
      renderPeriods();
    }

    ranges.append(...RANGES.map((r) => h("button", { type: "button", dataset: { range: r.key }, text: r.label, on: { click: () => {
      state.range = r.key;
      markRange();
      refreshChart();
    } } })));
    custom.addEventListener("submit", (event) => {
      event.preventDefault();
      const start = fromInput(from.value);
      const end = fromInput(to.value);
      if (Number.isNaN(start) || Number.isNaN(end)) {
        fill(problem, errorBox("Times are UTC, written like 2026-12-05 18:00."));
        return;
      }
      if (!(end > start)) {
        fill(problem, errorBox("The end of the range must come after its start."));
        return;
      }
      Object.assign(state, { range: "custom", from: start, to: end });
      markRange();
      refreshChart();
    });

    async function loadNames() {
      const found = await ctx.getAll("v2.0/metrics/names", scoped({}));
      const names = found.elements.map((e) => e.name).sort(naturalSort);
      if (!names.includes(state.metric)) {
        state.metric = ["cpu.percent", "cpu.idle_perc", "cpu.utilization_perc"].find((n) => names.includes(n))
          || names.find((n) => !n.startsWith("nephoscope.")) || names[0] || "";
      }
      fillSelect(metric, names.map((n) => [n, n]), state.metric);
    }

    async function loadDimensions() {
      const keys = state.metric
        ? (await ctx.getAll("v2.0/metrics/dimensions/names", scoped({ metric_name: state.metric }))).elements.map((e) => e.dimension_name)
        : [];
      keys.sort(naturalSort);
      state.keys = keys;
      if (state.groupBy !== "" && state.groupBy !== "*" && !keys.includes(state.groupBy)) {
        state.groupBy = keys.includes("hostname") ? "hostname" : keys.includes("resource_id") ? "resource_id" : "";
      }
      fillSelect(groupBy, [["", "nothing (one merged line)"], ...keys.map((k) => [k, k]), ["*", "each series (all dimensions)"]], state.groupBy);
      state.filters = state.filters.filter(([key]) => keys.includes(key));
      fillSelect(filterName, keys.map((k) => [k, k]), keys.includes(filterName.value) ? filterName.value : keys.includes("hostname") ? "hostname" : keys[0]);
      renderChips();
      await loadFilterValues();
    }

    async function loadFilterValues() {
      const key = filterName.value;
      const values = key && state.metric
        ? (await ctx.getAll("v2.0/metrics/dimensions/names/values", scoped({ metric_name: state.metric, dimension_name: key }), { maxPages: 5 }))
          .elements.map((e) => e.dimension_value).sort(naturalSort)
        : [];
      const current = filterValue.value;
      fillSelect(filterValue, values.map((v) => [v, v]), values.includes(current) ? current : values[0]);
      filterAdd.disabled = !values.length;
    }

    function renderChips() {
      chips.replaceChildren(...state.filters.map(([key, value], index) => h("span", { class: "chip" },
        h("span", { text: `${key}=${value}` }),
        h("button", { type: "button", aria: { label: `Remove filter ${key}=${value}` }, text: "×", on: { click: () => {
          state.filters.splice(index, 1);
          renderChips();
          refreshChart();
        } } }))));
    }

    function labelsFor(elements) {
      let labels;
      if (state.groupBy === "") labels = elements.map(() => state.metric);
      else if (state.groupBy !== "*") labels = elements.map((e) => e.dimensions[state.groupBy] ?? `(no ${state.groupBy})`);
      else {
        const keys = [...new Set(elements.flatMap((e) => Object.keys(e.dimensions)))].sort(naturalSort);
        const varying = keys.filter((k) => new Set(elements.map((e) => e.dimensions[k])).size > 1);
        const shown = varying.length ? varying : keys;
        labels = elements.map((e) => shown.map((k) => `${k}=${e.dimensions[k] ?? "–"}`).join(", ") || state.metric);
      }
      const seen = new Map();  // the same label twice (e.g. two projects): number them
      return labels.map((label) => {
        const n = (seen.get(label) || 0) + 1;
        seen.set(label, n);
        return n > 1 ? `${label} (${n})` : label;
      });
    }

    async function refreshChart() {
      writeHash();
      if (!state.metric) {
        chart.empty("No metrics in this scope yet: post some to /v2.0/metrics, or start the server with --demo.");
        return;
      }
      const seq = ++state.seq;
      const [start, end] = span();
      const { period: step, raised } = effectivePeriod();
      const first = Math.floor(start / step) * step;  // stable buckets from one refresh to the next
      const band = state.statistic === "avg" && state.groupBy === "";
      const params = scoped({ name: state.metric, statistics: band ? "avg,min,max" : state.statistic, period: step,
        start_time: isoSeconds(first), end_time: state.range === "custom" ? isoSeconds(end) : "", dimensions: dimensions() });
      if (state.groupBy === "") params.merge_metrics = "true";
      else params.group_by = state.groupBy;
      chart.loading();
      let found;
      try {
        found = await ctx.getAll("v2.0/metrics/statistics", params, { maxPages: MAX_PAGES });
      } catch (error) {
        if (seq !== state.seq || !ctx.alive) return;
        if (error.status === 409) error.message = `Several series match: choose a "Group by" or a filter. (${error.description})`;
        ctx.failed(error, problem);
        chart.stale();
        return;
      }
      if (seq !== state.seq || !ctx.alive) return;
      problem.replaceChildren();
      const elements = found.elements.filter((e) => e.statistics && e.statistics.length);
      const rangeText = state.range === "custom" ? `${utc(start * 1000)} – ${utc(end * 1000)}` : `last ${RANGES.find((r) => r.key === state.range).label}`;
      title.textContent = state.metric;
      const filterText = state.filters.length ? ` · ${state.filters.map(([k, v]) => `${k}=${v}`).join(", ")}` : "";
      info.textContent = `${state.statistic} per ${duration(step)} · ${plural(elements.length, "line")} · ${rangeText}${filterText}`;
      const notes = [];
      if (raised) notes.push(`The period was raised to ${duration(step)}: ${duration(state.period)} would make more than ${MAX_BUCKETS} points per line.`);
      if (found.truncated) notes.push(`Too many series to draw them all: the first ${plural(elements.length, "line")} are shown. Filter or group to narrow.`);
      note.textContent = notes.join(" ");
      note.hidden = !notes.length;
      if (!elements.length) {
        chart.empty(`No data for ${state.metric} in this range.`);
        return;
      }
      const labels = labelsFor(elements);
      const [unit, factor] = unitOf(state.metric);
      const rowsOf = (element, column) => {
        const at = element.columns.indexOf(column);
        const scale = column === "count" ? 1 : factor;
        return element.statistics.map((row) => [toMs(row[0]) / 1000, row[at] === null ? null : row[at] * scale]);
      };
      const [times, ...values] = align(elements.map((e) => rowsOf(e, state.statistic)));
      let bandValues = null;
      if (band && elements.length === 1) {
        const [, low, high] = align([rowsOf(elements[0], "min"), rowsOf(elements[0], "max")]);
        bandValues = { low, high };
      }
      chart.show(times, values.map((v, i) => ({ label: labels[i], values: v })),
        { unit: state.statistic === "count" ? "" : unit, window: [start, end], band: bandValues });
      ctx.updated(state.auto && state.range !== "custom" ? REFRESH_S : 0);
    }

    metric.addEventListener("change", async () => {
      state.metric = metric.value;
      state.filters = [];
      chart.hidden.clear();
      await guarded(async () => { await loadDimensions(); await refreshChart(); });
    });
    groupBy.addEventListener("change", () => { state.groupBy = groupBy.value; refreshChart(); });
    statistic.addEventListener("change", () => { state.statistic = statistic.value; refreshChart(); });
    period.addEventListener("change", () => { state.period = Number(period.value); refreshChart(); });
    auto.addEventListener("change", () => { state.auto = auto.checked; writeHash(); });
    filterName.addEventListener("change", () => guarded(loadFilterValues));
    filterAdd.addEventListener("click", () => {
      const pair = [filterName.value, filterValue.value];
      if (!pair[0] || !pair[1] || state.filters.some(([k, v]) => k === pair[0] && v === pair[1])) return;
      state.filters.push(pair);
      renderChips();
      refreshChart();
    });

    async function guarded(fn) {
      try { await fn(); } catch (error) { ctx.failed(error, problem); }
    }

    statistic.value = state.statistic;
    auto.checked = state.auto;
    markRange();
    chart.loading();
    await guarded(async () => {
      await loadNames();
      await loadDimensions();
      await refreshChart();
    });
    ctx.every(REFRESH_S * 1000, () => {
      if (state.auto && state.range !== "custom") refreshChart();
    });
  },
};
