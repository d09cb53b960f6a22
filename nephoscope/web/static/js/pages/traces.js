// Traces section: one request followed across services (#/traces/<request id>, trace.js) and why an
// instance was or was not scheduled (#/traces/scheduling/<instance id>, scheduling.js), as tabs.

import { h, tabs } from "../dom.js";
import scheduling from "./scheduling.js";
import trace from "./trace.js";

const TABS = [
  { key: "", href: "#/traces", label: "Request trace" },
  { key: "scheduling", href: "#/traces/scheduling", label: "Scheduling" },
];

export default {
  title: "Traces",
  render(view, ctx) {
    const [, first = "", second = ""] = ctx.route.parts;
    const sub = first === "scheduling" ? "scheduling" : "";
    view.append(h("div", { class: "page-head" }, h("h1", { text: "Traces" }),
      h("p", { class: "muted", text: `Scope: ${ctx.session.describe()} · rebuilt from the services' log lines` })),
    tabs("Traces sections", TABS, sub));
    const body = h("div", { class: "section-body" });
    view.append(body);
    if (sub === "scheduling") return scheduling(body, ctx, second);
    return trace(body, ctx, first);
  },
};
