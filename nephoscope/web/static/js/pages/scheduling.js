// Why an instance was (not) scheduled: the result, the reason in plain words, each filter's hosts
// before and after as a funnel (the filter that emptied the list in red), and for operators the
// hosts each filter removed and the scheduler's and conductor's lines that say so.
//
// API calls: GET /v1/scheduling/{instance_id} (+tenant_id for admins; a project gets the reason and
// the counts, not the operator's host names or lines); with no id, the instances that failed
// recently: GET /v1/failures?limit=50.

import { empty, facts, fill, h, loading, table, when } from "../dom.js";
import { toMs } from "../format.js";
import { s, tip } from "../svg.js";
import { failuresHref, levelBadge, logsHref, readById, requestLinks, schedulingHref } from "./log-common.js";

const RESULTS = { failed: "FAILED", scheduled: "SCHEDULED", unknown: "UNKNOWN" };

export default async function scheduling(body, ctx, instanceId) {
  const input = h("input", { id: "sched-instance", class: "mono", placeholder: "instance uuid", autocomplete: "off", spellcheck: "false", required: true });
  input.value = instanceId;
  const form = h("form", { class: "card search-form", id: "sched-form", role: "search", aria: { label: "Explain an instance's scheduling" } },
    h("label", { class: "control grow", for: "sched-instance" }, h("span", { text: "Instance id" }), input),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Explain" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) location.hash = schedulingHref(input.value.trim());
  });
  const box = h("div", { id: "scheduling" });
  body.append(form, box);
  if (!instanceId) return recent(box, ctx);

  const doc = await readById(box, ctx, `v1/scheduling/${encodeURIComponent(instanceId)}`,
    "Reading the scheduler's lines…", empty(`No log line about instance ${instanceId} is visible in this scope.`,
      "The id may be mistyped, the lines older than the logs' retention, or the instance not your project's."));
  if (!doc) return;
  const sentence = doc.reason ? `${doc.reason.charAt(0).toUpperCase()}${doc.reason.slice(1)}${/[.!?]$/.test(doc.reason) ? "" : "."}` : "";
  fill(box,
    h("section", { class: ["card", "sched-head", `is-${doc.result}`], aria: { label: "Explanation" } },
      h("p", { class: "sched-result" }, h("span", { class: ["badge", `result-${doc.result}`], id: "sched-result", text: RESULTS[doc.result] || doc.result }),
        h("span", { class: "mono", text: doc.instance_id })),
      h("p", { class: "reason-big", id: "sched-reason", text: sentence }),
      facts([
        ["Request", doc.request_ids.length ? h("span", { class: "id-list" }, doc.request_ids.map((id) => requestLinks(id))) : null],
        ["Hosts considered", doc.hosts_considered ?? null],
        ["Placement", doc.placement_candidates === false ? "no allocation candidate" : null],
        ["Instance", h("span", { class: "id-links" }, h("a", { href: failuresHref(doc.instance_id), text: "its failures" }),
          h("a", { href: logsHref({ resource_id: doc.instance_id, range: "7d" }), text: "its log lines" }))],
      ])),
    h("section", { class: "card", aria: { labelledby: "funnel-title" } },
      h("h2", { id: "funnel-title", text: "Hosts left after each filter" }),
      doc.filters.length ? funnel(doc) : h("p", { class: "muted", text: doc.placement_candidates === false
        ? "The filters never ran: placement returned no candidate."
        : "The scheduler's lines name no filter (its filters log at DEBUG; the INFO summary appears only when every host is removed)." })),
    ctx.session.admin ? operatorDetail(doc)
      : h("p", { class: "muted small", text: "The hosts each filter removed and the scheduler's own lines are shown to operators only." }));
}

/** One row per filter: a grey bar for the hosts it got, a blue one for the hosts it kept; first the hosts considered. */
function funnel(doc) {
  const rows = doc.filters;
  const most = Math.max(1, doc.hosts_considered || 0, ...rows.map((f) => f.start ?? 0), ...rows.map((f) => f.end ?? 0));
  const emptied = rows.findIndex((f) => f.end === 0);
  const width = 980;
  const left = 220;
  const barWidth = 420;
  const rowH = 30;
  const first = doc.hosts_considered !== null && doc.hosts_considered !== undefined ? 1 : 0;
  const height = (rows.length + first) * rowH + 4;
  const scale = (n) => Math.max((n / most) * barWidth, 2);
  const y = (i) => (i + first) * rowH + 4;
  const considered = first ? s("g", { class: "funnel-row is-start" },
    s("text", { x: left - 10, y: y(-1) + 15, "text-anchor": "end", class: "funnel-name" }, "hosts considered"),
    s("rect", { x: left, y: y(-1), width: scale(doc.hosts_considered), height: 20, rx: 3, class: "funnel-after" }),
    s("text", { x: left + scale(doc.hosts_considered) + 10, y: y(-1) + 15, class: "funnel-count" }, String(doc.hosts_considered))) : null;
  const svg = s("svg", { class: "funnel", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    aria: { label: rows.map((f) => `${f.name}: ${f.start ?? "?"} to ${f.end ?? "?"} hosts`).join("; ") },
    dataset: { emptied: emptied >= 0 ? rows[emptied].name : "" } },
  considered, rows.map((f, i) => {
    const cut = i === emptied;
    const text = `${f.start ?? "?"} → ${f.end ?? "?"}${cut ? " · removed every remaining host" : f.removed ? ` · removed ${f.removed}` : ""}`;
    return s("g", { class: ["funnel-row", cut && "is-cut"], dataset: { filter: f.name, start: f.start ?? "", end: f.end ?? "" } },
      s("text", { x: left - 10, y: y(i) + 15, "text-anchor": "end", class: "funnel-name" }, f.name),
      s("rect", { x: left, y: y(i), width: scale(f.start ?? most), height: 20, rx: 3, class: "funnel-before" }, tip(`${f.start ?? "?"} hosts before ${f.name}`)),
      f.end ? s("rect", { x: left, y: y(i), width: scale(f.end), height: 20, rx: 3, class: "funnel-after" }, tip(`${f.end} hosts after ${f.name}`)) : null,
      s("text", { x: left + scale(f.start ?? most) + 10, y: y(i) + 15, class: "funnel-count" }, text));
  }));
  return h("div", { class: "funnel-host", id: "sched-funnel" }, svg);
}

function operatorDetail(doc) {
  const removed = doc.filters.filter((f) => (f.removed_hosts || []).length);
  return h("div", {},
    h("section", { class: "card flush", aria: { labelledby: "removed-title" }, id: "sched-removed" },
      h("h2", { id: "removed-title", text: "Hosts removed, filter by filter" }),
      removed.length ? table("Hosts removed by each filter", [
        { label: "Filter", cell: (f) => h("strong", { text: f.name }) },
        { label: "Removed", class: "num", cell: (f) => String(f.removed ?? f.removed_hosts.length) },
        { label: "Hosts", class: "wide", cell: (f) => h("span", { class: "mono", text: f.removed_hosts.join(", ") }) },
      ], removed) : h("p", { class: "muted pad", text: "The lines do not name the hosts (nova.filters logs them at DEBUG only)." })),
    doc.lines.length ? h("section", { class: "card flush", aria: { labelledby: "lines-title" }, id: "sched-lines" },
      h("h2", { id: "lines-title", text: `The lines this is read from (${doc.lines.length})` }),
      table("Scheduler and conductor lines", [
        { label: "Time", cell: (l) => when(toMs(l.time) ?? l.ts) },
        { label: "Where", cell: (l) => h("span", { class: "where" }, h("strong", { text: l.component || l.service }), h("span", { class: "mono muted", text: l.host })) },
        { label: "Level", cell: (l) => levelBadge(l.level) },
        { label: "Message", class: "wide", cell: (l) => h("div", {}, h("span", { class: "step-message", text: l.message }),
          l.exception_type ? h("code", { class: "exception", text: l.exception_type }) : null) },
      ], doc.lines)) : null);
}

/** With no id: the instances whose failures are recorded, to start from. */
async function recent(box, ctx) {
  fill(box, loading("Looking for failed instances…"));
  try {
    const answer = await ctx.get("v1/failures", { limit: 50, ...ctx.session.tenant() });
    const instances = new Map();
    for (const f of answer.elements) if (f.resource_type === "instance" && !instances.has(f.resource_id)) instances.set(f.resource_id, f);
    const hint = "Paste an instance id above; failure cards and log lines of instances link here.";
    if (!instances.size) {
      fill(box, empty("No instance failure recorded.", hint));
      return;
    }
    fill(box, h("section", { class: "card" }, h("h2", { text: "Instances that failed recently" }), h("p", { class: "muted small", text: hint }),
      h("ul", { class: "recent-requests", id: "recent-instances" }, [...instances.values()].slice(0, 10).map((f) => h("li", {},
        when(toMs(f.timestamp), true), " ", h("a", { href: schedulingHref(f.resource_id), class: "mono", text: f.resource_id }), " ",
        h("span", { class: "clip", text: f.summary || "" }))))));
    ctx.updated();
  } catch (error) { ctx.failed(error, box); }
}

