// Overview (the landing page): is the cloud reporting, what is alarming, what failed — every 10 s.
//
// API calls, all within the session's scope (tenant_id for admins, a region dimension filter):
//   GET /v2.0/metrics?name=cpu.idle_perc&start_time=…       hosts reporting (monasca-agent's host metric)
//   GET /v2.0/metrics?name=cpu.utilization_perc&start_time=… instances reporting (libvirt's per-VM metric)
//   GET /v2.0/metrics/names                                  which optional metrics exist (logs, lifecycle)
//   GET /v2.0/alarms/count?group_by=state,severity           the alarm matrix
//   GET /v1/failures?limit=5                                 recent failures
//   GET /v2.0/metrics/statistics  openstack.instances / openstack.volumes.gb (group_by=*), error log lines
//                                 (log.records{category:error}), and for admins the server's own
//                                 nephoscope.* figures (tenant_id=admin)
//   GET /v1/logs?category=error&limit=1                      error lines when no log.records series is in
//                                 scope (a project's lines are counted under the project that sent them)

import { add, empty, fill, h, loading } from "../dom.js";
import { ago, figure, isoSeconds, plural, toMs } from "../format.js";
import { sparkline } from "../charts.js";
import { failureCard } from "./failure-card.js";

const REFRESH_S = 10;
const RECENT_S = 600;            // a host or instance "reports" if it sent something in the last 10 min
const HOST_METRIC = "cpu.idle_perc";
const INSTANCE_METRIC = "cpu.utilization_perc";
const LOG_METRIC = "log.records";  // records per service, category and level, from the logs pipeline
const LIFECYCLE = ["openstack.instances", "openstack.volumes.gb"];  // from notifications
const STATES = ["ALARM", "UNDETERMINED", "OK"];
const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const INGEST = { name: "nephoscope.ingest.points_per_sec", title: "Points ingested", unit: "/s", statistic: "avg" };
const SERVER = [
  { name: "nephoscope.store.series", title: "Series stored", unit: "", statistic: "max" },
  { name: "nephoscope.store.size_bytes", title: "Store size on disk", unit: "B", statistic: "max" },
  { name: "nephoscope.api.request_latency_ms", title: "API latency (average)", unit: "ms", statistic: "avg" },
  { name: "nephoscope.process.cpu_perc", title: "Server CPU", unit: "%", statistic: "avg" },
  { name: "nephoscope.process.rss_bytes", title: "Server memory", unit: "B", statistic: "max" },
];

export default {
  title: "Overview",
  render(view, ctx) {
    const tiles = h("div", { class: "tiles" });
    const tile = (key, title) => {
      const element = h("article", { class: "tile", dataset: { tile: key }, aria: { label: title } },
        h("h2", { class: "tile-title", text: title }), h("p", { class: "tile-value", text: "…" }),
        h("p", { class: "tile-note" }), h("div", { class: "spark" }));
      tiles.append(element);
      return element;
    };
    const t = {
      hosts: tile("hosts", "Hosts reporting"),
      instances: tile("instances", "Instances reporting"),
      alarms: tile("alarms", "Alarms firing"),
      ingest: ctx.session.admin ? tile("ingest", "Ingest rate") : null,
      lifecycle: tile("lifecycle", "Live instances"),
      volumes: tile("volumes", "Volume storage"),
      errors: tile("errors", "Error log lines"),
    };
    const matrix = h("div", { class: "matrix-box" }, loading());
    const failures = h("div", { class: "failure-list" }, loading());
    const server = h("div", { class: "tiles" });
    add(view,
      h("div", { class: "page-head" }, h("h1", { text: "Overview" }),
        h("p", { class: "muted", text: `Scope: ${ctx.session.describe()}` })),
      tiles,
      h("div", { class: "columns" },
        h("section", { class: "card", aria: { labelledby: "matrix-title" } },
          h("div", { class: "card-head" }, h("h2", { id: "matrix-title", text: "Alarms by state and severity" }),
            h("a", { href: "#/alarms", text: "All alarms →" })), matrix),
        h("section", { class: "card", aria: { labelledby: "failures-title" } },
          h("div", { class: "card-head" }, h("h2", { id: "failures-title", text: "Recent failures" }),
            h("a", { href: "#/events/failures", text: "All failures →" })), failures)),
      ctx.session.admin ? h("section", { aria: { labelledby: "server-title" } },
        h("h2", { id: "server-title", class: "section-title", text: "This server (last hour)" }), server) : null,
    );
    const serverTiles = ctx.session.admin ? SERVER.map((item) => {
      const element = h("article", { class: "tile small", dataset: { metric: item.name }, aria: { label: item.title } },
        h("h3", { class: "tile-title", text: item.title }), h("p", { class: "tile-value", text: "…" }),
        h("p", { class: "tile-note" }), h("div", { class: "spark" }));
      server.append(element);
      return [item, element];
    }) : [];

    const sparks = new Map();
    const spark = (element, xs, ys) => sparks.set(element, sparkline(element.querySelector(".spark"), [xs, ys], sparks.get(element)));
    ctx.onLeave(() => { for (const plot of sparks.values()) if (plot) plot.destroy(); });
    let names = null;
    let ticks = 0;

    const region = () => ctx.session.regionFilter();
    const scoped = (params) => ({ ...params, ...ctx.session.tenant() });

    async function refresh() {
      const now = Math.floor(Date.now() / 1000);
      // The list of names is read every minute — and every refresh while a tile still waits for its
      // metric, so a cloud that just started shows each figure as soon as it exists.
      const waiting = names === null || [HOST_METRIC, INSTANCE_METRIC, LOG_METRIC, ...LIFECYCLE].some((n) => !names.has(n));
      if (waiting || ticks++ % 6 === 0) {
        names = await ctx.getAll("v2.0/metrics/names", scoped({})).then((r) => new Set(r.elements.map((e) => e.name)))
          .catch(() => names || new Set());
      }
      await Promise.all([
        reporting(t.hosts, HOST_METRIC, "hostname", "host", now),
        reporting(t.instances, INSTANCE_METRIC, "resource_id", "instance", now),
        alarmCounts(),
        recentFailures(),
        lifecycle(t.lifecycle, "openstack.instances", "", "instances", now),
        lifecycle(t.volumes, "openstack.volumes.gb", "B", "volumes", now),
        errorLines(now),
        t.ingest ? selfMetric(t.ingest, INGEST, now) : null,
        ...serverTiles.map(([item, element]) => selfMetric(element, item, now)),
      ].map((p) => Promise.resolve(p).catch(() => {})));
      if (ctx.alive) ctx.updated(REFRESH_S);
    }

    function setTile(element, value, note, { level = "", unit = "" } = {}) {
      element.classList.remove("failed", "level-bad", "level-good", "level-none");
      if (level) element.classList.add(`level-${level}`);
      const box = element.querySelector(".tile-value");
      fill(box, value, unit ? h("span", { class: "unit", text: unit }) : null);
      fill(element.querySelector(".tile-note"), note || "");
    }

    function tileError(element, error) {
      if (error.handled) return;
      element.classList.add("failed");
      setTile(element, "–", error.forbidden ? "not allowed with this token" : error.message);
      element.classList.add("failed");
    }

    /** Distinct values of `key` among the series of `metric` seen recently, against the last day. */
    async function reporting(element, metric, key, noun, now) {
      if (names && !names.has(metric)) {
        // A project sees its instances, not the hypervisors: no host metric, no host tile.
        element.hidden = key === "hostname" && !ctx.session.admin;
        setTile(element, "0", `no ${metric} metrics in this scope`, { level: "none" });
        return;
      }
      element.hidden = false;
      try {
        const distinct = async (seconds) => {
          const found = await ctx.getAll("v2.0/metrics", scoped({ name: metric, dimensions: region(), start_time: isoSeconds(now - seconds) }));
          return new Set(found.elements.map((e) => e.dimensions[key]).filter(Boolean));
        };
        const [recent, day] = await Promise.all([distinct(RECENT_S), distinct(86400)]);
        const silent = [...day].filter((value) => !recent.has(value)).length;
        setTile(element, figure(recent.size),
          silent ? `${plural(silent, noun)} silent for 10 min (seen today)` : `all ${plural(day.size, noun)} seen today`,
          { level: silent ? "bad" : "" });
      } catch (error) { tileError(element, error); }
    }

    async function alarmCounts() {
      try {
        const answer = await ctx.get("v2.0/alarms/count", scoped({ group_by: "state,severity", metric_dimensions: region() }));
        const at = (name) => answer.columns.indexOf(name);
        const counts = new Map();
        for (const row of answer.counts) {
          if (row[at("state")] === null) continue;  // [[0, null, null]] when there are none
          counts.set(`${row[at("state")]}/${row[at("severity")]}`, row[at("count")]);
        }
        const total = (state) => SEVERITIES.reduce((sum, s) => sum + (counts.get(`${state}/${s}`) || 0), 0);
        const firing = total("ALARM");
        const worst = SEVERITIES.find((s) => counts.get(`ALARM/${s}`));
        setTile(t.alarms, figure(firing), firing ? `worst: ${worst} · ${total("UNDETERMINED")} undetermined`
          : `${total("OK")} OK · ${total("UNDETERMINED")} undetermined`, { level: firing ? "bad" : "good" });
        fill(matrix, alarmMatrix(counts));
      } catch (error) {
        tileError(t.alarms, error);
        ctx.failed(error, matrix);
      }
    }

    async function recentFailures() {
      try {
        const answer = await ctx.get("v1/failures", { limit: 5, ...ctx.session.tenant() });
        if (!answer.elements.length) {
          fill(failures, empty("No failures recorded.", "Errors of instances, volumes, stacks… appear here from OpenStack notifications."));
          return;
        }
        fill(failures, answer.elements.map((f) => failureCard(f, { compact: true })));
      } catch (error) { ctx.failed(error, failures); }
    }

    /** A lifecycle gauge: the sum over its series (state × flavor × project) per 5 minutes. */
    async function lifecycle(element, metric, unit, noun, now) {
      if (names && !names.has(metric)) {
        setTile(element, "–", `no ${noun} data yet (needs OpenStack notifications)`, { level: "none" });
        spark(element, [], []);
        return;
      }
      try {
        const found = await ctx.getAll("v2.0/metrics/statistics", scoped({
          name: metric, statistics: "avg", period: 300, group_by: "*", dimensions: region(),
          start_time: isoSeconds(Math.floor((now - 6 * 3600) / 300) * 300) }));
        const totals = new Map();
        const byState = new Map();
        let last = null;
        for (const element of found.elements) {
          for (const [time, value] of element.statistics) {
            const seconds = toMs(time) / 1000;
            totals.set(seconds, (totals.get(seconds) || 0) + value);
            last = last === null ? seconds : Math.max(last, seconds);
          }
        }
        if (last === null) {
          setTile(element, "–", `no ${noun} reported in the last 6 h`, { level: "none" });
          spark(element, [], []);
          return;
        }
        for (const series of found.elements) {
          const row = series.statistics.find((r) => toMs(r[0]) / 1000 === last);
          const state = series.dimensions.state || series.dimensions.status || "other";
          if (row) byState.set(state, (byState.get(state) || 0) + row[1]);
        }
        const xs = [...totals.keys()].sort((a, b) => a - b);
        const factor = unit === "B" ? 1024 ** 3 : 1;
        const text = figure(Math.round(totals.get(last) * factor * 100) / 100, unit);
        const [value, suffix] = unit ? [text.split(" ")[0], text.split(" ")[1]] : [text, ""];
        const parts = [...byState.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3)
          .map(([state, count]) => `${figure(Math.round(count * factor), unit)} ${state}`);
        setTile(element, value, `${parts.join(" · ")} (from notifications)`, { unit: suffix });
        spark(element, xs, xs.map((x) => totals.get(x)));
      } catch (error) { tileError(element, error); }
    }

    async function errorLines(now) {
      const note = (text) => h("span", {}, `${text} · `, h("a", { href: "#/logs?category=error", text: "read them" }));
      if (names && !names.has(LOG_METRIC)) return errorCount(now, note);
      try {
        const found = await ctx.getAll("v2.0/metrics/statistics", scoped({
          name: LOG_METRIC, statistics: "sum", period: 60, merge_metrics: "true",
          dimensions: ["category:error", region()].filter(Boolean).join(","),
          start_time: isoSeconds(Math.floor((now - 3600) / 60) * 60) }));
        const rows = found.elements.length ? found.elements[0].statistics : [];
        if (!rows.length) {
          setTile(t.errors, "0", "no error lines in the last hour", { level: "good", unit: "/h" });
          spark(t.errors, [], []);
          return;
        }
        // Every minute of the hour, quiet ones as 0: a line over minutes with errors only would mislead.
        const counts = new Map(rows.map((r) => [toMs(r[0]) / 1000, r[1]]));
        const first = Math.floor((now - 3600) / 60) * 60;
        const xs = Array.from({ length: 61 }, (_, i) => first + i * 60);
        const ys = xs.map((x) => counts.get(x) || 0);
        const total = ys.reduce((a, b) => a + b, 0);
        const last = Math.max(...counts.keys());
        setTile(t.errors, figure(total), note(`in the last hour, the latest ${ago(last * 1000)}`), { unit: "/h", level: total ? "bad" : "good" });
        spark(t.errors, xs, ys);
      } catch (error) { tileError(t.errors, error); }
    }

    /** No log.records series in scope: count the error lines the logs API shows (no sparkline). */
    async function errorCount(now, note) {
      try {
        const answer = await ctx.get("v1/logs", { category: "error", limit: 1, start_time: isoSeconds(now - 3600), ...ctx.session.tenant() });
        const total = ((answer.facets || {}).category || []).reduce((sum, f) => sum + f.count, 0);
        setTile(t.errors, figure(total), total ? note("in the last hour") : "no error lines in the last hour",
          { unit: "/h", level: total ? "bad" : "good" });
        spark(t.errors, [], []);
      } catch (error) { tileError(t.errors, error); }
    }

    /** One of the server's own metrics (project admin), with a sparkline of the last hour. */
    async function selfMetric(element, item, now) {
      try {
        const found = await ctx.getAll("v2.0/metrics/statistics", {
          name: item.name, statistics: item.statistic, period: 30, merge_metrics: "true", tenant_id: "admin",
          start_time: isoSeconds(Math.floor((now - 3600) / 30) * 30) });
        const rows = found.elements.length ? found.elements[0].statistics : [];
        if (!rows.length) {
          setTile(element, "–", "no data yet (the server records itself every few seconds)");
          spark(element, [], []);
          return;
        }
        const xs = rows.map((r) => toMs(r[0]) / 1000);
        const ys = rows.map((r) => r[1]);
        const latest = figure(ys[ys.length - 1], item.unit);
        const split = item.unit ? latest.lastIndexOf(" ") : -1;
        const valid = ys.filter((y) => y !== null);
        setTile(element, split > 0 ? latest.slice(0, split) : latest,
          `last hour: low ${figure(Math.min(...valid), item.unit)} · high ${figure(Math.max(...valid), item.unit)}`,
          { unit: split > 0 ? latest.slice(split + 1) : "" });
        spark(element, xs, ys);
      } catch (error) { tileError(element, error); }
    }

    refresh();
    ctx.every(REFRESH_S * 1000, refresh);
  },
};

/** Severity rows × state columns; every non-zero cell links to the alarm list, filtered. */
function alarmMatrix(counts) {
  const cell = (state, severity) => {
    const count = counts.get(`${state}/${severity}`) || 0;
    const label = `${count} ${state} ${severity}`;
    return h("td", { class: ["count", count && `has-${state.toLowerCase()}`] },
      count ? h("a", { href: `#/alarms?state=${state}&severity=${severity}`, aria: { label }, text: String(count) })
        : h("span", { class: "zero", aria: { label }, text: "0" }));
  };
  return h("table", { class: "matrix", dataset: { alarms: String([...counts.values()].reduce((a, b) => a + b, 0)) } },
    h("caption", { class: "visually-hidden", text: "Alarms by severity (rows) and state (columns)" }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Severity" }),
      STATES.map((s) => h("th", { scope: "col", class: `state-head state-${s.toLowerCase()}`, text: s })))),
    h("tbody", {}, SEVERITIES.map((severity) => h("tr", {},
      h("th", { scope: "row" }, h("span", { class: ["badge", `severity-${severity.toLowerCase()}`], text: severity })),
      STATES.map((state) => cell(state, severity))))));
}
