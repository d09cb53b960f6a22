// Nephoscope dashboard: plain JavaScript over the Monasca v2.0 API of the server that serves it.
//
// Sections: API access and error wording; formatting; the token form; the overview of the
// server's own metrics; the metric explorer (controls, query, chart, legend); start-up.
// Every request carries the token from localStorage as X-Auth-Token. Text from the server is
// only ever set with textContent.
"use strict";

(() => {
  const TOKEN_KEY = "nephoscope.token";
  const REFRESH_MS = 10_000;
  const NAMES_EVERY_TICKS = 6;  // re-read the metric names once a minute
  const MAX_PAGES = 20;

  // Each range has a period that keeps a line between ~60 and ~170 points.
  const RANGES = [
    { key: "15m", label: "15 min", seconds: 15 * 60, period: 30 },
    { key: "1h", label: "1 h", seconds: 3600, period: 60 },
    { key: "6h", label: "6 h", seconds: 6 * 3600, period: 180 },
    { key: "24h", label: "24 h", seconds: 24 * 3600, period: 600 },
    { key: "7d", label: "7 d", seconds: 7 * 24 * 3600, period: 3600 },
  ];

  const OVERVIEW_PERIOD = 30;  // seconds: a fresh server shows a line within its first minute
  const OVERVIEW = [
    { name: "nephoscope.ingest.points_per_sec", title: "Points ingested", unit: "/s", statistic: "avg" },
    { name: "nephoscope.store.series", title: "Series stored", unit: "", statistic: "max" },
    { name: "nephoscope.store.size_bytes", title: "Store size on disk", unit: "B", statistic: "max" },
    { name: "nephoscope.api.request_latency_ms", title: "API latency (average)", unit: "ms", statistic: "avg" },
  ];

  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#ff7f0e", "#bab0ac"];
  const color = (i) => i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137.5) % 360}, 55%, 48%)`;

  const $ = (id) => document.getElementById(id);

  /** uPlot points filter: lines carry no dots, except values with a gap on both sides (else invisible). */
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

  const state = {
    token: localStorage.getItem(TOKEN_KEY) || "",
    names: [],
    metric: "",
    groupBy: "hostname",  // "" merges every series into one line, "*" draws each series
    statistic: "avg",
    range: "1h",
    filters: [],          // [[dimension, value], ...]
    auto: true,
    hidden: new Set(),    // legend labels switched off by the user
    chart: null,
    chartKey: "",
    window: [0, 0],       // the chart's time span, [start, now] in seconds
    legendUnit: "",
    seq: 0,
    ticks: 0,
    timer: null,
    busy: false,
    sparks: {},
  };

  // ---------------------------------------------------------------- API access

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
    get tokenRefused() { return this.status === 401 && !this.forbidden; }
  }

  /** Plain words for an error answer (Monasca's body is {"title", "description"}). */
  function explain(status, body) {
    const detail = (body && (body.description || body.title)) || "";
    switch (true) {
      case status === 0:
        return "Cannot reach the server. Is it still running?";
      case status === 401 && body && body.title === "Forbidden":
        return `This token is valid but may not read metrics: ${detail}.`;
      case status === 401:
        return "Token refused: the server does not know this token (mistyped, or revoked). Enter another one.";
      case status === 403:
        return `Not allowed: ${detail}.`;
      case status === 404:
        return `Not found on this server: ${detail}.`;
      case status === 409:
        return `Several series match; choose a "Group by" or a filter. (${detail})`;
      case status === 422:
        return `The server could not use this query: ${detail}`;
      case status === 429 || status === 503:
        return `The server is busy (${status}); the next refresh will try again.`;
      case status >= 500:
        return `The server failed to answer (${status}): ${detail}`;
      default:
        return `Unexpected answer ${status}: ${detail}`;
    }
  }

  /** GET an API path relative to the dashboard ("../v2.0/..."), so a path prefix in a proxy still works. */
  async function api(path, params = {}, token = state.token) {
    const url = new URL(`../v2.0/${path}`, document.baseURI);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    let response;
    try {
      response = await fetch(url, { headers: { "X-Auth-Token": token, Accept: "application/json" }, cache: "no-store" });
    } catch (_) {
      throw new ApiError(0, explain(0));
    }
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      const error = new ApiError(response.status, explain(response.status, body));
      error.forbidden = response.status === 401 && body && body.title === "Forbidden";
      throw error;
    }
    return response.json();
  }

  /** Every page of a Monasca list (following rel=next offsets); statistics split over pages are joined by id. */
  async function apiAll(path, params = {}, token = state.token) {
    const elements = [];
    const byId = new Map();
    let offset = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer = await api(path, offset ? { ...params, offset } : params, token);
      for (const element of answer.elements || []) {
        const previous = element.id !== undefined && element.statistics ? byId.get(element.id) : undefined;
        if (previous) {
          previous.statistics.push(...element.statistics);
        } else {
          elements.push(element);
          if (element.id !== undefined) byId.set(element.id, element);
        }
      }
      const next = (answer.links || []).find((link) => link.rel === "next");
      offset = next ? new URL(next.href, document.baseURI).searchParams.get("offset") : null;
      if (!offset) break;
    }
    return elements;
  }

  // ---------------------------------------------------------------- formatting

  const isoSeconds = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");

  /** The unit a Monasca metric name implies, as [unit, factor to that unit]. */
  function unitOf(name) {
    if (/(_perc|_percent|\.percent)$/.test(name)) return ["%", 1];
    if (/kbytes_sec$/.test(name)) return ["B/s", 1024];
    if (/bytes_sec$/.test(name)) return ["B/s", 1];
    if (/_bytes$/.test(name)) return ["B", 1];
    if (/_mb$/.test(name)) return ["B", 1024 * 1024];
    if (/_ms$/.test(name)) return ["ms", 1];
    if (/(per_sec|_sec)$/.test(name)) return ["/s", 1];
    return ["", 1];
  }

  function compact(value) {
    const abs = Math.abs(value);
    for (const [size, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
      if (abs >= size) return trim(value / size) + suffix;
    }
    return trim(value);
  }

  function trim(value) {
    const abs = Math.abs(value);
    const digits = abs === 0 || abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
    return Number(value.toFixed(digits)).toString();
  }

  function bytes(value) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let index = 0;
    while (Math.abs(value) >= 1024 && index < units.length - 1) { value /= 1024; index++; }
    return `${trim(value)} ${units[index]}`;
  }

  /** A value in a unit from unitOf, for axes, legends and figures. */
  function format(value, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (unit === "B") return bytes(value);
    if (unit === "B/s") return `${bytes(value)}/s`;
    if (unit === "%") return `${trim(value)} %`;
    return unit ? `${compact(value)} ${unit}` : compact(value);
  }

  function naturalSort(a, b) {
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  // ---------------------------------------------------------------- token form

  function showLogin(message) {
    stopTimer();
    $("login").hidden = false;
    $("dashboard").hidden = true;
    $("token-change").hidden = true;
    $("token-cancel").hidden = !state.token || Boolean(message);
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("token-input").value = "";
    $("token-input").focus();
  }

  async function submitToken(event) {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    const button = $("token-submit");
    button.disabled = true;
    button.textContent = "Checking…";
    try {
      await api("metrics/names", { limit: 1 }, token);
      state.token = token;
      localStorage.setItem(TOKEN_KEY, token);
      $("login").hidden = true;
      start();
    } catch (error) {
      $("login-error").textContent = error.message;
      $("login-error").hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = "Connect";
    }
  }

  /** Any answer that refuses the stored token sends the user back to the form. */
  function handleRefused(error) {
    if (error instanceof ApiError && error.tokenRefused) {
      localStorage.removeItem(TOKEN_KEY);
      state.token = "";
      showLogin(error.message);
      return true;
    }
    return false;
  }

  /** A lost connection is said once, in the banner, while the last figures stay on screen. */
  function connectionLost(error) {
    if (!(error instanceof ApiError) || error.status !== 0) return false;
    $("banner").textContent = `${error.message} The dashboard keeps trying every 10 s.`;
    $("banner").hidden = false;
    return true;
  }

  function connected() {
    $("banner").hidden = true;
  }

  // ---------------------------------------------------------------- overview

  function buildOverview() {
    const container = $("overview");
    container.replaceChildren();
    for (const item of OVERVIEW) {
      const card = document.createElement("div");
      card.className = "stat";
      card.dataset.metric = item.name;
      card.innerHTML = '<div class="title"></div><div class="value">…</div><div class="note"></div><div class="spark"></div>';
      card.querySelector(".title").textContent = item.title;
      card.title = item.name;
      container.append(card);
      const box = card.querySelector(".spark");
      new ResizeObserver(() => {
        const plot = state.sparks[item.name];
        if (plot) plot.setSize({ width: sparkWidth(box), height: 48 });
      }).observe(box);
    }
  }

  async function refreshOverview() {
    const now = Math.floor(Date.now() / 1000);
    const start = Math.floor((now - 3600) / OVERVIEW_PERIOD) * OVERVIEW_PERIOD;
    await Promise.all(OVERVIEW.map(async (item) => {
      const card = $("overview").querySelector(`[data-metric="${item.name}"]`);
      try {
        const elements = await apiAll("metrics/statistics", {
          name: item.name, statistics: "avg,max", period: OVERVIEW_PERIOD, start_time: isoSeconds(start),
          merge_metrics: "true", tenant_id: "admin",
        });
        drawFigure(card, item, elements[0], now);
        connected();
      } catch (error) {
        if (handleRefused(error) || connectionLost(error)) return;
        card.classList.add("failed");
        card.querySelector(".value").textContent = error.forbidden ? "needs the admin role" : error.message;
      }
    }));
  }

  function drawFigure(card, item, element, now) {
    card.classList.remove("failed");
    const value = card.querySelector(".value");
    const note = card.querySelector(".note");
    const rows = element ? element.statistics : [];
    if (!rows.length) {
      value.textContent = "–";
      note.textContent = "no data yet (the server records itself every 10 s)";
      drawSpark(card, item.name, [[], []]);
      return;
    }
    const column = element.columns.indexOf(item.statistic);
    const xs = rows.map((row) => Date.parse(row[0]) / 1000);
    const ys = rows.map((row) => row[column]);
    const latest = ys[ys.length - 1];
    const text = figure(latest, item.unit);
    const split = item.unit ? text.lastIndexOf(" ") : -1;
    value.textContent = split > 0 ? text.slice(0, split) : text;
    if (split > 0) {
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = text.slice(split + 1);
      value.append(unit);
    }
    const valid = ys.filter((y) => y !== null);
    const [low, high] = [Math.min(...valid), Math.max(...valid)].map((v) => figure(v, item.unit));
    const minutes = Math.round((now - xs[0]) / 60);
    const span = minutes >= 55 ? "last hour" : minutes >= 1 ? `last ${minutes} min` : "just started";
    note.textContent = low === high ? `${span}: ${low}` : `${span}: low ${low} · high ${high}`;
    drawSpark(card, item.name, [xs, ys]);
  }

  /** Like format, but exact counts read better than "2.48k" while they are small. */
  function figure(value, unit) {
    return !unit && Number.isInteger(value) && Math.abs(value) < 1e6 ? value.toLocaleString("en-US") : format(value, unit);
  }

  function drawSpark(card, name, data) {
    const box = card.querySelector(".spark");
    let plot = state.sparks[name];
    if (data[0].length < 2) {  // a line needs two points; a lone dot says nothing
      if (plot) plot.destroy();
      delete state.sparks[name];
      return;
    }
    if (plot) {
      plot.setData(data);
      return;
    }
    plot = new uPlot({
      width: sparkWidth(box), height: 48, legend: { show: false }, cursor: { show: false },
      select: { show: false }, axes: [{ show: false }, { show: false }],
      scales: {
        x: { time: true },  // the span of the data, so a young server's line fills the card
        y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },  // from zero: no drama
      },
      series: [{}, { stroke: "#2563eb", width: 1.5, fill: "rgba(37, 99, 235, 0.10)", points: LINE_POINTS }],
    }, data, box);
    state.sparks[name] = plot;
  }

  const sparkWidth = (box) => Math.max(box.clientWidth, 100);

  // ---------------------------------------------------------------- explorer: controls

  function fillSelect(select, options, selected) {
    select.replaceChildren(...options.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }));
    if (options.some(([value]) => value === selected)) select.value = selected;
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.has("metric")) state.metric = params.get("metric");
    if (params.has("group")) state.groupBy = params.get("group");
    if (["avg", "min", "max"].includes(params.get("stat"))) state.statistic = params.get("stat");
    if (RANGES.some((r) => r.key === params.get("range"))) state.range = params.get("range");
    state.filters = params.getAll("filter").map((f) => [f.slice(0, f.indexOf(":")), f.slice(f.indexOf(":") + 1)])
      .filter(([key, value]) => key && value);
  }

  function writeHash() {
    const params = new URLSearchParams({ metric: state.metric, group: state.groupBy, stat: state.statistic,
      range: state.range });
    for (const [key, value] of state.filters) params.append("filter", `${key}:${value}`);
    history.replaceState(null, "", `#${params}`);
  }

  function buildRanges() {
    $("ranges").replaceChildren(...RANGES.map((range) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = range.label;
      button.dataset.range = range.key;
      button.addEventListener("click", () => {
        state.range = range.key;
        markRange();
        refreshChart();
      });
      return button;
    }));
    markRange();
  }

  function markRange() {
    for (const button of $("ranges").children) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
  }

  async function loadNames() {
    const elements = await apiAll("metrics/names");
    state.names = elements.map((e) => e.name).sort(naturalSort);
    if (!state.names.includes(state.metric)) {
      state.metric = ["cpu.percent", "cpu.idle_perc"].find((n) => state.names.includes(n))
        || state.names.find((n) => !n.startsWith("nephoscope.")) || state.names[0] || "";
    }
    fillSelect($("metric"), state.names.map((n) => [n, n]), state.metric);
  }

  /** Group-by and filter choices come from the dimensions the chosen metric has. */
  async function loadDimensions() {
    const keys = state.metric
      ? (await apiAll("metrics/dimensions/names", { metric_name: state.metric })).map((e) => e.dimension_name)
      : [];
    keys.sort(naturalSort);
    if (state.groupBy !== "" && state.groupBy !== "*" && !keys.includes(state.groupBy)) {
      state.groupBy = keys.includes("hostname") ? "hostname" : "";
    }
    fillSelect($("group-by"), [["", "nothing (merge all series)"], ...keys.map((k) => [k, k]),
      ["*", "each series (all dimensions)"]], state.groupBy);
    state.filters = state.filters.filter(([key]) => keys.includes(key));
    fillSelect($("filter-name"), keys.map((k) => [k, k]),
      keys.includes($("filter-name").value) ? $("filter-name").value : "hostname");
    renderChips();
    await loadFilterValues();
  }

  async function loadFilterValues() {
    const key = $("filter-name").value;
    const values = key && state.metric
      ? (await apiAll("metrics/dimensions/names/values", { metric_name: state.metric, dimension_name: key }))
        .map((e) => e.dimension_value).sort(naturalSort)
      : [];
    const current = $("filter-value").value;  // keep the user's pick if it is still offered
    fillSelect($("filter-value"), values.map((v) => [v, v]), values.includes(current) ? current : values[0]);
    $("filter-add").disabled = !values.length;
  }

  function renderChips() {
    $("filter-chips").replaceChildren(...state.filters.map(([key, value], index) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = `${key} = ${value}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.title = "Remove this filter";
      remove.setAttribute("aria-label", `Remove filter ${key} = ${value}`);
      remove.textContent = "×";
      remove.addEventListener("click", () => {
        state.filters.splice(index, 1);
        renderChips();
        refreshChart();
      });
      chip.append(remove);
      return chip;
    }));
  }

  /** Show an explorer error, or clear it with null. */
  function explorerError(error) {
    $("explorer-error").hidden = !error;
    $("explorer-error").textContent = error ? error.message : "";
    if (error) $("chart").dataset.state = "error";
  }

  async function guarded(action) {
    try {
      await action();
    } catch (error) {
      if (!handleRefused(error) && !connectionLost(error)) explorerError(error);
    }
  }

  function wireControls() {
    $("metric").addEventListener("change", () => guarded(async () => {
      state.metric = $("metric").value;
      state.hidden.clear();
      await loadDimensions();
      await refreshChart();
    }));
    $("group-by").addEventListener("change", () => {
      state.groupBy = $("group-by").value;
      refreshChart();
    });
    $("statistic").addEventListener("change", () => {
      state.statistic = $("statistic").value;
      refreshChart();
    });
    $("filter-name").addEventListener("change", () => guarded(loadFilterValues));
    $("filter-add").addEventListener("click", () => {
      const pair = [$("filter-name").value, $("filter-value").value];
      if (!pair[0] || !pair[1] || state.filters.some(([k, v]) => k === pair[0] && v === pair[1])) return;
      state.filters.push(pair);
      renderChips();
      refreshChart();
    });
    $("auto-refresh").addEventListener("change", () => { state.auto = $("auto-refresh").checked; });
    $("token-change").addEventListener("click", () => showLogin());
    $("token-cancel").addEventListener("click", () => { $("login").hidden = true; start(); });
    $("login-form").addEventListener("submit", submitToken);
  }

  // ---------------------------------------------------------------- explorer: query and chart

  /** Monasca's dimensions parameter: "k:v1|v2,k2:v3". */
  function dimensionsParam() {
    const byKey = new Map();
    for (const [key, value] of state.filters) byKey.set(key, [...(byKey.get(key) || []), value]);
    return [...byKey].map(([key, values]) => `${key}:${values.join("|")}`).join(",");
  }

  /** Line labels: the group-by value, or for "*" the dimensions whose values differ between lines. */
  function labelsFor(elements) {
    if (state.groupBy === "") return elements.map(() => state.metric);
    if (state.groupBy !== "*") return elements.map((e) => e.dimensions[state.groupBy] ?? `(no ${state.groupBy})`);
    const keys = [...new Set(elements.flatMap((e) => Object.keys(e.dimensions)))].sort(naturalSort);
    const varying = keys.filter((k) => new Set(elements.map((e) => e.dimensions[k])).size > 1);
    const shown = varying.length ? varying : keys;
    return elements.map((e) => shown.map((k) => `${k}=${e.dimensions[k] ?? "–"}`).join(", ") || state.metric);
  }

  async function refreshChart() {
    writeHash();
    if (!state.metric) {
      showEmpty("No metrics on this server yet: post some to /v2.0/metrics, or start it with --demo.");
      return;
    }
    const seq = ++state.seq;
    const range = RANGES.find((r) => r.key === state.range);
    const now = Math.floor(Date.now() / 1000);
    const start = Math.floor((now - range.seconds) / range.period) * range.period;  // stable buckets
    const params = { name: state.metric, statistics: "avg,min,max", period: range.period,
      start_time: isoSeconds(start), dimensions: dimensionsParam() };
    if (state.groupBy === "") params.merge_metrics = "true";
    else params.group_by = state.groupBy;
    $("chart").dataset.state = "loading";
    let elements;
    try {
      elements = await apiAll("metrics/statistics", params);
    } catch (error) {
      if (seq === state.seq && !handleRefused(error) && !connectionLost(error)) explorerError(error);
      if (seq === state.seq && $("chart").dataset.state === "loading") $("chart").dataset.state = "stale";
      return;
    }
    if (seq !== state.seq) return;  // a newer query has started meanwhile
    connected();
    explorerError(null);
    elements = elements.filter((e) => e.statistics && e.statistics.length);
    $("chart-title").textContent = state.metric;
    const filterText = state.filters.length ? ` · ${state.filters.map(([k, v]) => `${k}=${v}`).join(", ")}` : "";
    $("chart-info").textContent = `${state.statistic} per ${range.period} s · ${elements.length} `
      + `line${elements.length === 1 ? "" : "s"} · last ${range.label}${filterText}`;
    if (!elements.length) {
      showEmpty(`No data for ${state.metric} in the last ${range.label}.`);
      return;
    }
    drawChart(elements, start, now);
    stamp();
  }

  function showEmpty(message) {
    if (state.chart) state.chart.destroy();
    state.chart = null;
    state.chartKey = "";
    $("chart").replaceChildren();
    $("legend").replaceChildren();
    $("chart-empty").textContent = message;
    $("chart-empty").hidden = false;
    $("chart").dataset.state = "empty";
    $("chart").dataset.series = "0";
  }

  function drawChart(elements, start, now) {
    const labels = labelsFor(elements);
    const order = labels.map((_, i) => i).sort((a, b) => naturalSort(labels[a], labels[b]));
    const sorted = order.map((i) => ({ label: labels[i], element: elements[i] }));

    // One shared time axis: the union of every line's buckets, with gaps as null.
    const times = [...new Set(elements.flatMap((e) => e.statistics.map((row) => row[0])))].sort();
    const index = new Map(times.map((t, i) => [t, i]));
    const column = (element, name) => {
      const at = element.columns.indexOf(name);
      const values = new Array(times.length).fill(null);
      for (const row of element.statistics) values[index.get(row[0])] = row[at];
      return values;
    };
    const data = [times.map((t) => Date.parse(t) / 1000), ...sorted.map((s) => column(s.element, state.statistic))];
    const single = sorted.length === 1;
    if (single) data.push(column(sorted[0].element, "min"), column(sorted[0].element, "max"));

    const [unit, factor] = unitOf(state.metric);
    if (factor !== 1) for (const values of data.slice(1)) values.forEach((v, i) => { if (v !== null) values[i] = v * factor; });
    state.window = [start, now];

    const key = JSON.stringify([state.metric, state.groupBy, state.statistic, labels.slice().sort()]);
    $("chart-empty").hidden = true;
    if (state.chart && state.chartKey === key) {
      state.chart.setData(data);
    } else {
      if (state.chart) state.chart.destroy();
      $("chart").replaceChildren();
      state.chart = new uPlot(chartOptions(sorted, unit, single), data, $("chart"));
      state.chartKey = key;
      buildLegend(sorted, unit);
    }
    updateReadings(null);
    $("chart").dataset.series = String(sorted.length);
    $("chart").dataset.state = "ready";
  }

  function chartOptions(sorted, unit, single) {
    const axis = { stroke: "#66737f", grid: { stroke: "#eef1f5", width: 1 }, ticks: { stroke: "#dde3ea", width: 1 } };
    const series = [{}, ...sorted.map((s, i) => ({
      label: s.label, stroke: color(i), width: 1.5, show: !state.hidden.has(s.label), points: LINE_POINTS,
      value: (u, v) => format(v, unit),
    }))];
    const options = {
      width: Math.max($("chart").clientWidth, 300), height: 340,
      legend: { show: false },
      cursor: { focus: { prox: 20 } },
      focus: { alpha: 0.35 },
      scales: { x: { time: true, range: () => state.window } },
      axes: [axis, { ...axis, size: 80, values: (u, ticks) => ticks.map((v) => format(v, unit)) }],
      series,
      hooks: { setCursor: [(u) => updateReadings(u.cursor.idx)] },
    };
    if (single) {
      // One line: shade its min..max range per period behind it.
      series.push({ label: "min", stroke: "transparent", points: { show: false } },
        { label: "max", stroke: "transparent", points: { show: false } });
      options.bands = [{ series: [3, 2], fill: "rgba(78, 121, 167, 0.14)" }];
    }
    return options;
  }

  function buildLegend(sorted, unit) {
    $("legend").replaceChildren(...sorted.map((s, i) => {
      const item = document.createElement("li");
      item.className = "legend-item";
      item.classList.toggle("off", state.hidden.has(s.label));
      item.title = `${s.label}\n(click to show or hide this line)`;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color(i);
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = s.label;
      const reading = document.createElement("span");
      reading.className = "reading";
      item.append(swatch, label, reading);
      item.addEventListener("click", () => {
        const show = state.hidden.has(s.label);
        if (show) state.hidden.delete(s.label); else state.hidden.add(s.label);
        item.classList.toggle("off", !show);
        state.chart.setSeries(i + 1, { show });
      });
      return item;
    }));
    state.legendUnit = unit;
  }

  /** Legend values: at the cursor, or each line's latest value when the cursor is away. */
  function updateReadings(idx) {
    const plot = state.chart;
    if (!plot) return;
    const items = $("legend").children;
    for (let i = 0; i < items.length; i++) {
      const values = plot.data[i + 1];
      let value = null;
      if (idx !== null && idx !== undefined) value = values[idx];
      else for (let j = values.length - 1; j >= 0 && value === null; j--) value = values[j];
      items[i].querySelector(".reading").textContent = format(value, state.legendUnit);
    }
  }

  // ---------------------------------------------------------------- start-up and refresh

  function stamp() {
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  function stopTimer() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  async function tick() {
    if (state.busy || !state.auto || document.hidden || !state.token) return;
    state.busy = true;
    try {
      if (++state.ticks % NAMES_EVERY_TICKS === 0) {
        await loadNames();
      }
      await Promise.all([refreshOverview(), refreshChart()]);
    } catch (error) {
      if (!handleRefused(error) && !connectionLost(error)) explorerError(error);
    } finally {
      state.busy = false;
    }
  }

  async function start() {
    stopTimer();
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("token-change").hidden = false;
    $("token-summary").textContent = `token ••••${state.token.slice(-4)}`;
    $("statistic").value = state.statistic;
    $("auto-refresh").checked = state.auto;
    markRange();
    await guarded(async () => {
      await loadNames();
      await loadDimensions();
      await Promise.all([refreshOverview(), refreshChart()]);
    });
    if (state.token && !state.timer) state.timer = setInterval(tick, REFRESH_MS);
  }

  function init() {
    readHash();
    buildRanges();
    buildOverview();
    wireControls();
    window.addEventListener("hashchange", () => {
      const before = state.metric;
      readHash();
      markRange();
      $("statistic").value = state.statistic;
      if (state.metric !== before && state.names.includes(state.metric)) $("metric").value = state.metric;
      guarded(async () => { await loadDimensions(); await refreshChart(); });
    });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
    window.addEventListener("resize", () => {
      if (state.chart) state.chart.setSize({ width: Math.max($("chart").clientWidth, 300), height: 340 });
    });
    if (state.token) start(); else showLogin();
  }

  init();
})();
