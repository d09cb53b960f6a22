// Alarm definitions: the list, with links to edit each one and to its alarms.
//
// API call: GET /v2.0/alarm-definitions (every page, +tenant_id for admins).

import { add, badge, empty, fill, h, loading, table } from "../dom.js";

export default async function definitions(body, ctx) {
  const saved = ctx.route.params.get("saved");
  const box = h("div", { id: "definition-list" }, loading("Loading alarm definitions…"));
  add(body,
    h("div", { class: "toolbar" }, h("a", { href: "#/alarms/definitions/new", class: "button primary", id: "new-definition", text: "New definition" })),
    saved ? h("p", { class: "notice", role: "status", text: `Saved “${saved}”.` }) : null,
    box);
  try {
    const found = await ctx.getAll("v2.0/alarm-definitions", { ...ctx.session.tenant(), sort_by: "name" });
    if (!found.elements.length) {
      fill(box, empty("No alarm definitions yet.", "A definition such as avg(cpu.utilization_perc) > 90 times 3, matched by hostname, gives one alarm per host."));
      return;
    }
    fill(box, table("Alarm definitions", [
      { label: "Name", cell: (d) => h("a", { href: `#/alarms/definitions/${encodeURIComponent(d.id)}`, text: d.name, title: "Edit" }) },
      { label: "Expression", cell: (d) => h("code", { class: "expression", text: d.expression }) },
      { label: "Severity", cell: (d) => badge(d.severity) },
      { label: "Match by", cell: (d) => d.match_by.length ? d.match_by.join(", ") : h("span", { class: "muted", text: "–" }) },
      { label: "Actions", cell: (d) => actionsText(d) },
      { label: "", cell: (d) => h("a", { href: `#/alarms?definition=${encodeURIComponent(d.id)}`, text: "Alarms →" }) },
    ], found.elements, { rowAttrs: (d) => ({ dataset: { definition: d.id } }) }));
    ctx.updated();
  } catch (error) {
    ctx.failed(error, box);
  }
}

function actionsText(definition) {
  const count = definition.alarm_actions.length + definition.ok_actions.length + definition.undetermined_actions.length;
  if (!count) return h("span", { class: "muted", text: "none" });
  return h("span", {}, `${count} notification${count === 1 ? "" : "s"}`,
    definition.actions_enabled ? null : h("span", { class: "muted", text: " (disabled)" }));
}
