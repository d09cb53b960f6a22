// Failure summaries: the last error of each resource, in plain words, as cards; or every failure
// of one resource (?resource=<id>).
//
// API calls: GET /v1/failures?start_time=&limit=&offset= (+tenant_id for admins; older pages
//            through the answer's next link), GET /v1/resources/{id}/failures (+tenant_id for admins).

import { nextOffset } from "../api.js";
import { empty, fill, h, loading } from "../dom.js";
import { isoSeconds, plural } from "../format.js";
import { failureCard } from "./failure-card.js";

const PAGE = 100;
const RANGES = [["1d", "last 24 h", 86400], ["7d", "last 7 days", 7 * 86400], ["30d", "last 30 days", 30 * 86400], ["all", "any time", 0]];

export default async function failures(body, ctx) {
  const resource = ctx.route.params.get("resource") || "";
  const box = h("div", { id: "failure-list", class: "failure-grid", aria: { live: "polite" } }, loading("Loading failures…"));
  const admin = ctx.session.admin;
  let next = null;  // the offset of the next page of /v1/failures
  let shown = [];
  if (resource) {
    body.append(h("p", {}, h("a", { href: "#/events/failures", text: "← All failures" })),
      h("h2", {}, "Failures of ", h("span", { class: "mono", text: resource })),
      h("p", {}, h("a", { href: `#/events?${new URLSearchParams({ resource_id: resource })}`, text: "Every event of this resource →" })), box);
    try {
      const answer = await ctx.get(`v1/resources/${encodeURIComponent(resource)}/failures`, ctx.session.tenant());
      show(answer.elements, "No failure recorded for this resource.");
    } catch (error) { ctx.failed(error, box); }
    return;
  }

  const range = h("select", { id: "failure-range" }, RANGES.map(([key, label]) => h("option", { value: key, text: label })));
  range.value = RANGES.some(([key]) => key === ctx.route.params.get("range")) ? ctx.route.params.get("range") : "7d";
  const pager = h("div", { class: "pager" });
  body.append(h("div", { class: "toolbar" }, h("label", { class: "inline", for: "failure-range", text: "Failed in the" }), range,
    h("span", { class: "muted small", text: "One card per resource and failed request: what happened, to what, when, and the ids to follow." })), box, pager);

  async function load(more = false) {
    const [key, , seconds] = RANGES.find(([k]) => k === range.value);
    ctx.setParams({ range: key === "7d" ? "" : key });
    if (!more) fill(box, loading("Loading failures…"));
    try {
      const params = { limit: PAGE, ...ctx.session.tenant() };
      if (seconds) params.start_time = isoSeconds(Math.floor(Date.now() / 1000) - seconds);
      if (more) params.offset = next;
      const answer = await ctx.get("v1/failures", params);
      next = nextOffset(answer);
      shown = more ? [...shown, ...answer.elements] : answer.elements;
      show(shown, "No failures recorded in this period.");
      fill(pager, next ? h("button", { type: "button", id: "failures-older", text: "Older failures ↓", on: { click: () => load(true) } }) : null);
      ctx.updated();
    } catch (error) { ctx.failed(error, box); }
  }

  function show(elements, none) {
    box.dataset.count = String(elements.length);
    if (!elements.length) {
      fill(box, empty(none, "Failures come from error notifications of nova, cinder, neutron, heat… (instance.create.error and the like) and from the services' error log lines."));
      return;
    }
    fill(box, h("p", { class: "muted small full", text: `${plural(elements.length, "failure")}${next ? " (older ones below)" : ""}` }),
      elements.map((f) => failureCard(f, { showProject: admin })));
  }

  range.addEventListener("change", () => load());
  await load();
}
