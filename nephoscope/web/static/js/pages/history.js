// Recent state changes of every alarm in scope (the last 24 hours), newest first.
//
// API call: GET /v2.0/alarms/state-history?start_time=…&dimensions=region:…&limit=200 (+tenant_id).

import { badge, dimensionChips, empty, fill, h, loading, table, when } from "../dom.js";
import { isoSeconds, toMs } from "../format.js";

const LIMIT = 200;

export default async function history(body, ctx) {
  const box = h("div", { id: "history-list" }, loading("Loading state changes…"));
  body.append(h("p", { class: "muted", text: "State changes of the last 24 hours, newest first." }), box);
  try {
    const since = Math.floor(Date.now() / 1000) - 86400;
    const answer = await ctx.get("v2.0/alarms/state-history", {
      start_time: isoSeconds(since), limit: LIMIT, dimensions: ctx.session.regionFilter(), ...ctx.session.tenant() });
    const items = answer.elements.sort((a, b) => toMs(b.timestamp) - toMs(a.timestamp));
    if (!items.length) {
      fill(box, empty("No alarm changed state in the last 24 hours."));
      return;
    }
    fill(box, table("Alarm state changes", [
      { label: "When", cell: (i) => when(toMs(i.timestamp)) },
      { label: "Change", cell: (i) => h("span", { class: "change" }, badge(i.old_state), " → ", badge(i.new_state)) },
      { label: "Alarm", cell: (i) => h("a", { href: `#/alarms/alarm/${encodeURIComponent(i.alarm_id)}`, class: "mono", text: i.alarm_id.slice(0, 8) }) },
      { label: "Metric", cell: (i) => h("div", { class: "metric-cell" }, (i.metrics || []).slice(0, 2).map((m) => h("div", {},
        h("span", { class: "mono", text: m.name }), " ", dimensionChips(m.dimensions)))) },
      { label: "Reason", class: "reason-cell", cell: (i) => i.reason },
    ], items));
    if ((answer.links || []).some((link) => link.rel === "next")) {
      box.append(h("p", { class: "muted", text: `Showing the latest ${LIMIT} changes.` }));
    }
    ctx.updated();
  } catch (error) {
    ctx.failed(error, box);
  }
}
