// One request across services: the chain of request ids (global ids, nova's RPC context,
// keystoneauth's "used request id" lines), where it went (a swim-lane timeline), every line with
// the time since the start and since the step before, the notifications of the chain, and — when
// something failed — where, said first.
//
// API calls: GET /v1/traces/{request_id} (+tenant_id for admins); with no id, the recent error
// lines that carry one: GET /v1/logs?category=error&facets=false&limit=50.

import { empty, facts, fill, h, loading, table, when } from "../dom.js";
import { isoSeconds, plural, toMs, utc } from "../format.js";
import { categoryTag, levelBadge, logsHref, readById, requestLinks, traceHref } from "./log-common.js";
import { swimlanes } from "./trace-timeline.js";

const LANES = [["component", "component"], ["service", "service"], ["host", "host"]];

/** 1,603 ms under ten seconds, 11.3 s above. */
export function millis(ms) {
  if (ms === null || ms === undefined) return "–";
  return Math.abs(ms) < 10_000 ? `${Math.round(ms).toLocaleString("en-US")} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export default async function trace(body, ctx, requestId) {
  const input = h("input", { id: "trace-id", class: "mono", placeholder: "req-… (any id of the chain)", autocomplete: "off", spellcheck: "false", required: true });
  input.value = requestId;
  const form = h("form", { class: "card search-form", id: "trace-form", role: "search", aria: { label: "Follow a request" } },
    h("label", { class: "control grow", for: "trace-id" }, h("span", { text: "Request id" }), input),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Follow" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (id) location.hash = traceHref(id);
  });
  const box = h("div", { id: "trace" });
  body.append(form, box);
  if (!requestId) return recent(box, ctx);

  const doc = await readById(box, ctx, `v1/traces/${encodeURIComponent(requestId)}`, "Following the request…",
    empty(`No log line of ${requestId} is visible in this scope.`,
      "The id may be mistyped, its lines older than the logs' retention, or not about your project; its notifications may still be in Events."),
    h("p", { class: "center" }, h("a", { href: `#/events?${new URLSearchParams({ request_id: requestId })}`, text: "The events of this request →" })));
  if (doc) show(box, ctx, doc);
}

function show(box, ctx, doc) {
  const steps = doc.steps;
  const failedIndex = doc.failed_at ? steps.findIndex((s) => s.time_ms === doc.failed_at.time_ms && s.message === doc.failed_at.message) : -1;
  const lane = h("div", { class: "segmented", role: "group", aria: { label: "One lane per" }, id: "lane-by" });
  const chartHost = h("div", { class: "timeline-host", id: "trace-timeline" });
  const rows = [];
  const pick = (index) => {
    const row = rows[index];
    if (!row) return;
    for (const other of rows) other.classList.remove("picked");
    row.classList.add("picked");
    row.scrollIntoView({ block: "center", behavior: "smooth" });
  };
  let by = "component";
  const draw = () => {
    for (const button of lane.children) button.setAttribute("aria-pressed", String(button.dataset.by === by));
    chartHost.dataset.width = String(chartHost.clientWidth);
    fill(chartHost, swimlanes(steps, doc.events || [], { lane: by, failedIndex, width: Math.max(chartHost.clientWidth, 600), onPick: pick }));
  };
  lane.append(...LANES.map(([key, label]) => h("button", { type: "button", dataset: { by: key }, text: label, on: { click: () => { by = key; draw(); } } })));

  const stepTable = table("The lines of the request, in time order", [
    { label: "#", class: "num", cell: (s) => String(steps.indexOf(s) + 1) },
    { label: "+ start", class: "num", cell: (s) => millis(s.since_start_ms) },
    { label: "+ previous", class: "num", cell: (s) => millis(s.since_previous_ms) },
    { label: "Where", cell: (s) => h("span", { class: "where" }, h("strong", { text: s.component || s.service }), h("span", { class: "mono muted", text: s.host })) },
    { label: "Level", cell: (s) => h("span", { class: "level-cell" }, levelBadge(s.level), categoryTag(s.category)) },
    { label: "Message", class: "wide", cell: (s) => h("div", {}, h("span", { class: "step-message", text: s.message }),
      s.exception ? h("code", { class: "exception", text: s.exception }) : null,
      h("p", { class: "muted small step-ids" }, h("span", { class: "mono", text: s.logger }), " · ",
        h("a", { href: logsHref({ request_id: s.request_id, range: "7d" }), class: "mono", text: s.request_id }))) },
  ], steps, { rowAttrs: (s) => {
    const index = steps.indexOf(s);
    return { class: [index === failedIndex && "is-failed", `is-${s.category}`], dataset: { index: String(index), service: s.service, component: s.component } };
  } });
  for (const row of stepTable.querySelectorAll("tbody tr")) rows.push(row);

  fill(box,
    banner(doc, steps),
    h("section", { class: "card", aria: { label: "The chain" } }, facts([
      ["Request ids", h("ul", { class: "plain", id: "trace-ids" }, doc.request_ids.map((id) => h("li", {}, requestLinks(id),
        id === doc.request_id ? h("span", { class: "muted small", text: " (asked for)" }) : null)))],
      ["Services crossed", h("ol", { class: "path", id: "trace-services" }, doc.services.map((s) => h("li", {}, h("span", { class: "pill", text: s }))))],
      ["Hosts", h("span", { class: "mono", text: doc.hosts.join(", ") })],
      ["Duration", h("span", {}, `${millis(doc.duration_ms)} · ${plural(steps.length, "line")} · started `, when(toMs(steps[0].time), true),
        h("span", { class: "muted", text: ` (${utc(toMs(steps[0].time))})` }))],
    ]), doc.truncated ? h("p", { class: "note", text: "The chain was cut: more ids than a request should have (something logs one id for everything)." }) : null),
    h("section", { class: "card", aria: { labelledby: "timeline-title" } },
      h("div", { class: "card-head" }, h("h2", { id: "timeline-title", text: "Timeline" }),
        h("span", { class: "inline" }, "One lane per ", lane)), chartHost),
    h("section", { class: "card flush", aria: { labelledby: "steps-title" } },
      h("h2", { id: "steps-title", text: `${plural(steps.length, "line")}` }), h("div", { id: "trace-steps" }, stepTable)),
    events(doc.events || []));
  draw();
  const resize = new ResizeObserver(() => { if (Math.abs(chartHost.clientWidth - Number(chartHost.dataset.width || 0)) > 20) draw(); });
  resize.observe(chartHost);
  ctx.onLeave(() => resize.disconnect());
}

function banner(doc, steps) {
  const failed = doc.failed_at;
  if (!failed) {
    return h("div", { class: "trace-banner ok", id: "trace-banner", role: "status" },
      h("strong", { text: "No error on the way. " }),
      `${plural(steps.length, "line")} across ${doc.services.join(" → ")} in ${millis(doc.duration_ms)}.`);
  }
  return h("div", { class: "trace-banner failed", id: "trace-banner", role: "alert" },
    h("p", { class: "banner-head" }, "Failed in ", h("strong", { text: failed.service }), " on ", h("strong", { class: "mono", text: failed.host }),
      ": ", h("span", { class: "banner-message", text: failed.message })),
    failed.exception ? h("code", { class: "exception", text: failed.exception }) : null,
    h("p", { class: "small" }, `${millis(failed.since_start_ms)} into the request, in ${failed.component || failed.service} (${failed.logger}) · `,
      when(toMs(failed.time), true), " · ",
      h("a", { href: logsHref({ request_id: failed.request_id, category: "error", range: "7d" }), text: "the line and its traceback" })));
}

function events(list) {
  if (!list.length) return null;
  return h("section", { class: "card flush", aria: { labelledby: "events-title" }, id: "trace-events" },
    h("h2", { id: "events-title", text: `Notifications of the chain (${list.length})` }),
    table("Notifications of the request chain", [
      { label: "Time", cell: (e) => when(toMs(e.time)) },
      { label: "Event", cell: (e) => h("span", { class: "mono", text: e.event_type }) },
      { label: "Where", cell: (e) => [e.service, e.host].filter(Boolean).join(" @ ") },
      { label: "Priority", cell: (e) => e.priority },
      { label: "Resource", cell: (e) => e.resource_id ? h("a", { href: `#/events?${new URLSearchParams({ resource_id: e.resource_id })}`, class: "mono", text: e.resource_id }) : "–" },
      { label: "Request", cell: (e) => h("span", { class: "mono", text: e.request_id || "–" }) },
    ], list, { rowAttrs: (e) => ({ class: String(e.priority).toUpperCase() === "ERROR" ? "is-error" : null }) }));
}

/** With no id: the requests that failed recently, to start from. */
async function recent(box, ctx) {
  fill(box, loading("Looking for recent failed requests…"));
  try {
    const answer = await ctx.get("v1/logs", { category: "error", facets: "false", limit: 100,
      start_time: isoSeconds(Math.floor(Date.now() / 1000) - 86400), ...ctx.session.tenant() });
    const seen = new Map();
    for (const line of answer.elements) {
      const id = line.global_request_id || line.request_id;
      if (id) seen.set(id, line);  // newest first: the last one kept is the request's first error
    }
    const hint = "Paste a request id above (req-…: in every log line's context block and in X-Openstack-Request-Id headers); log lines and failure cards link here.";
    if (!seen.size) {
      fill(box, empty("No request failed in the last 24 hours.", hint));
      return;
    }
    fill(box, h("section", { class: "card", aria: { labelledby: "recent-title" } },
      h("h2", { id: "recent-title", text: "Requests that failed in the last 24 hours" }), h("p", { class: "muted small", text: hint }),
      h("ul", { class: "recent-requests", id: "recent-requests" }, [...seen].slice(0, 10).map(([id, line]) => h("li", {},
        when(toMs(line.time), true), " ",
        h("a", { href: traceHref(id), class: "mono", text: id }), " ",
        h("span", { class: "muted", text: `${line.service || ""}${line.host ? ` on ${line.host}` : ""}: ` }),
        h("span", { class: "clip", text: line.message }))))));
    ctx.updated();
  } catch (error) { ctx.failed(error, box); }
}
