// One alarm: its state, metrics and definition, and its state history as a timeline.
//
// API calls: GET /v2.0/alarms/{id}, GET /v2.0/alarm-definitions/{id} (the threshold), the alarm's
// metric for the last 3 hours (GET /v2.0/metrics/statistics, the series' own dimensions, the
// definition's function and period) and GET /v2.0/alarms/{id}/state-history, with tenant_id for admins.

import { badge, dimensionChips, empty, facts, fill, h, loading, when } from "../dom.js";
import { duration, isoSeconds, toMs, unitOf } from "../format.js";
import { LineChart, align } from "../charts.js";

const CHART_HOURS = 3;
const STATISTICS = { AVG: "avg", MIN: "min", MAX: "max", SUM: "sum", COUNT: "count" };
const OPERATORS = { GT: ">", GTE: ">=", LT: "<", LTE: "<=" };
const op = (operator) => OPERATORS[operator] || operator;

export default async function alarmDetail(body, ctx, id) {
  const head = h("div", { id: "alarm-detail" }, loading("Loading the alarm…"));
  const timeline = h("ol", { class: "timeline", id: "alarm-history", aria: { label: "State history, newest first" } });
  const historyBox = h("section", { class: "card", aria: { labelledby: "history-title" } },
    h("h2", { id: "history-title", text: "State history" }), h("div", {}, loading("Loading the history…")));
  const chartBox = h("section", { class: "card", aria: { labelledby: "alarm-chart-title" } },
    h("div", { class: "card-head" }, h("h2", { id: "alarm-chart-title", text: `The metric, last ${CHART_HOURS} hours` }),
      h("span", { class: "muted small", id: "alarm-chart-info" })), h("div", { id: "alarm-chart" }, loading("Loading the metric…")));
  body.append(h("p", {}, h("a", { href: "#/alarms", text: "← All alarms" })), head, chartBox, historyBox);
  const tenant = ctx.session.tenant();
  const path = `v2.0/alarms/${encodeURIComponent(id)}`;

  try {
    const alarm = await ctx.get(path, tenant);
    const definition = alarm.alarm_definition;
    fill(head, h("section", { class: "card alarm-head" },
      h("div", { class: "card-head" }, h("h2", { text: definition.name }), h("span", {}, badge(alarm.state), " ", badge(definition.severity))),
      facts([
        ["State since", when(toMs(alarm.state_updated_timestamp))],
        ["Created", when(toMs(alarm.created_timestamp))],
        ["Definition", h("a", { href: `#/alarms/definitions/${encodeURIComponent(definition.id)}`, text: definition.name })],
        ["Metrics", h("ul", { class: "plain" }, alarm.metrics.map((m) => h("li", {}, h("span", { class: "mono", text: m.name }), " ", dimensionChips(m.dimensions))))],
        ["Lifecycle state", alarm.lifecycle_state || null],
        ["Link", alarm.link ? h("span", { class: "mono", text: alarm.link }) : null],
        ["Alarm id", h("span", { class: "mono", text: alarm.id })],
      ])));
    metricChart(ctx, alarm, chartBox).catch((error) => ctx.failed(error, chartBox.querySelector("#alarm-chart")));
  } catch (error) {
    ctx.failed(error, head);
    chartBox.hidden = true;
  }

  try {
    const found = await ctx.getAll(`${path}/state-history`, tenant, { maxPages: 10 });
    const items = found.elements.sort((a, b) => toMs(b.timestamp) - toMs(a.timestamp));
    if (!items.length) {
      fill(historyBox.lastChild, empty("No state changes recorded yet."));
      return;
    }
    timeline.replaceChildren(...items.map(transition));
    fill(historyBox.lastChild, timeline);
  } catch (error) {
    ctx.failed(error, historyBox.lastChild);
  }
}

/** One state change: old → new, when, the reason, and each sub-alarm's state and values. */
export function transition(item) {
  const subs = item.sub_alarms || [];
  return h("li", { class: `transition to-${String(item.new_state).toLowerCase()}` },
    h("div", { class: "transition-head" }, badge(item.old_state), h("span", { class: "arrow", "aria-label": "to", text: "→" }),
      badge(item.new_state), when(toMs(item.timestamp))),
    h("p", { class: "reason", text: item.reason }),
    subs.length ? h("ul", { class: "subalarms" }, subs.map((sub) => {
      const e = sub.sub_alarm_expression || {};
      const expression = `${e.function}(${e.metric_name}) ${op(e.operator)} ${e.threshold}${e.periods > 1 ? ` times ${e.periods}` : ""}`;
      const values = (sub.current_values || []).map((v) => (typeof v === "number" ? Number(v.toFixed(3)) : v)).join(", ");
      return h("li", {}, badge(sub.sub_alarm_state), " ", h("code", { text: expression }),
        values ? h("span", { class: "muted", text: ` values: ${values}` }) : null);
    })) : null);
}

/** The alarm's (first) metric as its definition sees it (function per period), with the threshold. */
async function metricChart(ctx, alarm, box) {
  const host = box.querySelector("#alarm-chart");
  const metric = alarm.metrics[0];
  const definition = await ctx.get(`v2.0/alarm-definitions/${encodeURIComponent(alarm.alarm_definition.id)}`, ctx.session.tenant())
    .catch(() => null);
  const sub = definition && definition.expression_data && definition.expression_data.metric_name === metric.name
    ? definition.expression_data : null;
  const statistic = (sub && STATISTICS[sub.function]) || "avg";
  const period = (sub && sub.period) || 60;
  const now = Math.floor(Date.now() / 1000);
  const start = Math.floor((now - CHART_HOURS * 3600) / period) * period;
  const found = await ctx.getAll("v2.0/metrics/statistics", {
    name: metric.name, statistics: statistic, period, merge_metrics: "true", start_time: isoSeconds(start),
    dimensions: Object.entries(metric.dimensions).map(([k, v]) => `${k}:${v}`).join(","), ...ctx.session.tenant() });
  const rows = found.elements.length ? found.elements[0].statistics : [];
  box.querySelector("#alarm-chart-info").textContent = `${metric.name} · ${statistic} per ${duration(period)}`
    + (sub ? ` · threshold ${op(sub.operator)} ${sub.threshold}` : "");
  const chart = new LineChart(host, { height: 220, label: `${metric.name} of this alarm` });
  ctx.onLeave(() => chart.destroy());
  if (!rows.length) {
    chart.empty(`No ${metric.name} data in the last ${CHART_HOURS} hours.`);
    return;
  }
  const [unit, factor] = statistic === "count" ? ["", 1] : unitOf(metric.name);
  const [times, values] = align([rows.map((r) => [toMs(r[0]) / 1000, r[1] === null ? null : r[1] * factor])]);
  const lines = [{ label: `${statistic}(${metric.name})`, values }];
  if (sub) lines.push({ label: `threshold ${op(sub.operator)} ${sub.threshold}`, values: times.map(() => sub.threshold * factor), dash: [6, 4] });
  chart.show(times, lines, { unit, window: [start, now] });
}
