// Logs section: search (log-search.js), templates (log-templates.js) and hygiene (log-hygiene.js), as tabs.
//
// A project's token reads the lines about its project and resources in the categories operators
// let users see (error, info, audit by default: noise and telemetry are the operator's); admins
// read every project (tenant_id=*) or the one picked in the scope bar.

import { h, tabs } from "../dom.js";
import hygiene from "./log-hygiene.js";
import search from "./log-search.js";
import templates from "./log-templates.js";

const TABS = [
  { key: "", href: "#/logs", label: "Search" },
  { key: "templates", href: "#/logs/templates", label: "Templates" },
  { key: "hygiene", href: "#/logs/hygiene", label: "Hygiene" },
];

export default {
  title: "Logs",
  render(view, ctx) {
    const sub = ctx.route.parts[1] || "";
    const note = ctx.session.admin ? "every category"
      : "the lines about your project and its resources that projects may read (by default error, info and audit; noise and telemetry are the operators')";
    view.append(h("div", { class: "page-head" }, h("h1", { text: "Logs" }),
      h("p", { class: "muted", text: `Scope: ${ctx.session.describe()} · ${note}` })), tabs("Logs sections", TABS, sub));
    const body = h("div", { class: "section-body" });
    view.append(body);
    if (sub === "templates") return templates(body, ctx);
    if (sub === "hygiene") return hygiene(body, ctx);
    return search(body, ctx);
  },
};
