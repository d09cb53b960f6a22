// Alarms section: the alarms (instances) list here; definitions, one alarm with its history, the
// recent state changes and notification methods in their own modules, behind tabs.
//
// API calls of the list (within the session's scope, refreshed every 10 s):
//   GET /v2.0/alarms/count?group_by=state[&severity=…]          counts on the state filter buttons
//   GET /v2.0/alarms?state=&severity=&alarm_definition_id=&metric_dimensions=region:…
//       &sort_by=state desc,severity desc,state_updated_timestamp desc&limit=&offset=

import { add, badge, dimensionChips, empty, fill, h, loading, table, tabs, when } from "../dom.js";
import { toMs } from "../format.js";
import alarmDetail from "./alarm-detail.js";
import definitionForm from "./definition-form.js";
import definitions from "./definitions.js";
import history from "./history.js";
import notifications from "./notifications.js";

const TABS = [
  { key: "", href: "#/alarms", label: "Alarms" },
  { key: "definitions", href: "#/alarms/definitions", label: "Definitions" },
  { key: "history", href: "#/alarms/history", label: "State history" },
  { key: "notifications", href: "#/alarms/notifications", label: "Notification methods" },
];
const STATES = ["ALARM", "UNDETERMINED", "OK"];
const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const PAGE_SIZE = 50;
const REFRESH_S = 10;

export default {
  title: "Alarms",
  render(view, ctx) {
    const [, sub = "", arg] = ctx.route.parts;
    const tab = sub === "alarm" ? "" : sub;
    view.append(h("div", { class: "page-head" }, h("h1", { text: "Alarms" }),
      h("p", { class: "muted", text: `Scope: ${ctx.session.describe()}` })), tabs("Alarms sections", TABS, tab));
    const body = h("div", { class: "section-body" });
    view.append(body);
    if (sub === "alarm" && arg) return alarmDetail(body, ctx, arg);
    if (sub === "definitions") return arg ? definitionForm(body, ctx, arg) : definitions(body, ctx);
    if (sub === "history") return history(body, ctx);
    if (sub === "notifications") return notifications(body, ctx);
    return alarmList(body, ctx);
  },
};

function alarmList(body, ctx) {
  const p = ctx.route.params;
  const state = {
    state: STATES.includes(p.get("state")) ? p.get("state") : "",
    severity: SEVERITIES.includes(p.get("severity")) ? p.get("severity") : "",
    definition: p.get("definition") || "",
    offset: 0,
  };
  const stateButtons = h("div", { class: "segmented", role: "group", aria: { label: "Filter by state" }, id: "state-filter" });
  const severity = h("select", { id: "severity-filter" }, h("option", { value: "", text: "any severity" }),
    SEVERITIES.map((s) => h("option", { value: s, text: s })));
  const list = h("div", { id: "alarm-list" }, loading("Loading alarms…"));
  const pager = h("div", { class: "pager" });
  add(body,
    h("div", { class: "toolbar" }, stateButtons,
      h("label", { class: "inline", for: "severity-filter" }, "Severity"), severity,
      state.definition ? h("span", { class: "chip" }, h("span", { text: "one definition" }),
        h("a", { href: "#/alarms", aria: { label: "Show alarms of every definition" }, text: "×" })) : null),
    list, pager);
  severity.value = state.severity;
  severity.addEventListener("change", () => { state.severity = severity.value; state.offset = 0; refresh(true); });

  const scoped = (params) => ({ ...params, ...ctx.session.tenant(), metric_dimensions: ctx.session.regionFilter() });
  const filters = () => scoped({ severity: state.severity, alarm_definition_id: state.definition });

  function renderStateButtons(counts) {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    stateButtons.replaceChildren(...[["", "All", total], ...STATES.map((s) => [s, s, counts.get(s) || 0])].map(([key, label, count]) =>
      h("button", { type: "button", class: key ? `state-${key.toLowerCase()}` : null, "aria-pressed": String(state.state === key),
        dataset: { state: key }, on: { click: () => { state.state = key; state.offset = 0; refresh(true); } } },
      label, h("span", { class: "count", text: String(count) }))));
  }

  async function refresh(reset = false) {
    ctx.setParams({ state: state.state, severity: state.severity, definition: state.definition });
    if (reset) fill(list, loading("Loading alarms…"));
    try {
      const [count, page] = await Promise.all([
        ctx.get("v2.0/alarms/count", { ...filters(), group_by: "state" }),
        ctx.get("v2.0/alarms", { ...filters(), state: state.state, limit: PAGE_SIZE, offset: state.offset || "",
          sort_by: "state desc,severity desc,state_updated_timestamp desc" }),
      ]);
      const at = count.columns.indexOf("state");
      renderStateButtons(new Map(count.counts.filter((row) => row[at] !== null).map((row) => [row[at], row[0]])));
      renderList(page);
      ctx.updated(REFRESH_S);
    } catch (error) { ctx.failed(error, list); }
  }

  function renderList(page) {
    const alarms = page.elements;
    list.dataset.count = String(alarms.length);
    if (!alarms.length) {
      fill(list, empty(state.state || state.severity ? "No alarms match these filters." : "No alarms yet.",
        "Alarms appear once a definition's metrics arrive. Create one under Definitions."));
    } else {
      fill(list, table("Alarms", [
        { label: "State", cell: (a) => badge(a.state) },
        { label: "Severity", cell: (a) => badge(a.alarm_definition.severity) },
        { label: "Alarm", cell: (a) => h("a", { href: `#/alarms/alarm/${encodeURIComponent(a.id)}`, text: a.alarm_definition.name }) },
        { label: "Metric", cell: (a) => h("div", { class: "metric-cell" }, a.metrics.slice(0, 3).map((m) => h("div", {},
          h("span", { class: "mono", text: m.name }), " ", dimensionChips(m.dimensions))),
          a.metrics.length > 3 ? h("span", { class: "muted", text: `and ${a.metrics.length - 3} more` }) : null) },
        { label: "State since", cell: (a) => when(toMs(a.state_updated_timestamp)) },
      ], alarms, { rowAttrs: (a) => ({ dataset: { alarm: a.id, state: a.state } }) }));
    }
    const more = (page.links || []).some((link) => link.rel === "next");
    fill(pager,
      state.offset ? h("button", { type: "button", text: "← Previous", on: { click: () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); refresh(true); } } }) : null,
      alarms.length ? h("span", { class: "muted", text: `${state.offset + 1}–${state.offset + alarms.length}` }) : null,
      more ? h("button", { type: "button", text: "Next →", on: { click: () => { state.offset += PAGE_SIZE; refresh(true); } } }) : null);
  }

  refresh(true);
  ctx.every(REFRESH_S * 1000, () => refresh(false));
}
