// Events section: search (here), the event catalog and failure summaries (own modules), as tabs.
//
// API call of the search: GET /v1/events?event_type=&resource_id=&request_id=&start_time=&end_time=
// &limit=&offset= (+tenant_id for admins); the type box suggests names from GET /v1/events/types.
// Payloads are the services' own notifications: attacker-controlled text, shown only as text.

import { badge, facts, h, tabs, when } from "../dom.js";
import { isoSeconds, toMs, utcInput, utcValue } from "../format.js";
import catalog from "./catalog.js";
import failures from "./failures.js";
import { searchList } from "./search-list.js";

const TABS = [
  { key: "", href: "#/events", label: "Search" },
  { key: "catalog", href: "#/events/catalog", label: "Catalog" },
  { key: "failures", href: "#/events/failures", label: "Failures" },
];
const FIELDS = ["event_type", "resource_id", "request_id"];

export default {
  title: "Events",
  render(view, ctx) {
    const sub = ctx.route.parts[1] || "";
    view.append(h("div", { class: "page-head" }, h("h1", { text: "Events" }),
      h("p", { class: "muted", text: `Scope: ${ctx.session.describe()} · OpenStack notifications` })), tabs("Events sections", TABS, sub));
    const body = h("div", { class: "section-body" });
    view.append(body);
    if (sub === "catalog") return catalog(body, ctx);
    if (sub === "failures") return failures(body, ctx);
    return search(body, ctx);
  },
};

function search(body, ctx) {
  const p = ctx.route.params;
  const inputs = {
    event_type: h("input", { id: "ev-type", name: "event_type", list: "ev-types", placeholder: "instance.create.* or exact", autocomplete: "off", spellcheck: "false" }),
    resource_id: h("input", { id: "ev-resource", name: "resource_id", autocomplete: "off", spellcheck: "false", class: "mono" }),
    request_id: h("input", { id: "ev-request", name: "request_id", placeholder: "req-… (or global)", autocomplete: "off", spellcheck: "false", class: "mono" }),
    start: h("input", { id: "ev-start", name: "start", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off", class: "time-input" }),
    end: h("input", { id: "ev-end", name: "end", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off", class: "time-input" }),
    limit: h("select", { id: "ev-limit", name: "limit" }, ["50", "100", "200"].map((n) => h("option", { value: n, text: n }))),
  };
  for (const key of FIELDS) inputs[key].value = p.get(key) || "";
  inputs.start.value = utcInput(Number(p.get("start")));
  inputs.end.value = utcInput(Number(p.get("end")));
  inputs.limit.value = ["50", "100", "200"].includes(p.get("limit")) ? p.get("limit") : "50";
  const types = h("datalist", { id: "ev-types" });
  const results = h("div", { id: "event-results", aria: { live: "polite" } });
  const pager = h("div", { class: "pager" });
  const label = (text, input) => h("label", { class: "control", for: input.id }, h("span", { text }), input);
  const form = h("form", { class: "card search-form", id: "event-search", role: "search", aria: { label: "Search events" } },
    label("Event type", inputs.event_type), types, label("Resource id", inputs.resource_id), label("Request id", inputs.request_id),
    label("From (UTC)", inputs.start), label("To (UTC)", inputs.end), label("Show", inputs.limit),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Search" }),
      h("button", { type: "reset", text: "Clear" })));
  body.append(form, results, pager);

  function query() {
    const params = { limit: inputs.limit.value, ...ctx.session.tenant() };
    for (const key of FIELDS) params[key] = inputs[key].value.trim();
    const start = utcValue(inputs.start.value);
    const end = utcValue(inputs.end.value);
    if (start) params.start_time = isoSeconds(start / 1000);
    if (end) params.end_time = isoSeconds(end / 1000);
    ctx.setParams({ ...Object.fromEntries(FIELDS.map((k) => [k, params[k]])), start, end,
      limit: inputs.limit.value === "50" ? "" : inputs.limit.value });
    return params;
  }

  const pages = searchList(ctx, {
    form, results, more: pager, path: "v1/events", params: query, row: eventRow, noun: "event", listClass: "event-list",
    busy: "Searching events…", none: "No events match.",
    hint: "Events come from OpenStack notifications (RabbitMQ, or POST /v1/events). Try a wider time range or a type prefix such as instance.*",
  });
  ctx.get("v1/events/types").then((answer) => {
    types.replaceChildren(...answer.elements.map((t) => h("option", { value: t.pattern, label: t.description })));
  }).catch(() => {});
  pages.first();
}

/** One event: a summary line that opens to its traits and the notification's payload. */
function eventRow(event) {
  const ms = toMs(event.timestamp);
  const error = String(event.priority || "").toUpperCase() === "ERROR";
  const traits = Object.entries(event.traits || {}).filter(([, v]) => v !== null && v !== "" && v !== undefined);
  return h("details", { class: ["event", error && "is-error"], dataset: { type: event.event_type, resource: event.resource_id || "" } },
    h("summary", {},
      h("span", { class: "event-time" }, when(ms, true)),
      h("span", { class: "event-type mono", text: event.event_type }),
      h("span", { class: "event-flags" }, error ? badge("error") : null,
        event.known ? null : h("span", { class: "kind", text: "unknown type" })),
      h("span", { class: "event-resource" }, event.resource_type ? h("span", { class: "kind", text: event.resource_type }) : null,
        " ", h("span", { class: "mono", text: event.resource_id || "–" })),
      h("span", { class: "event-service muted", text: [event.service, event.host].filter(Boolean).join(" @ ") })),
    h("div", { class: "event-body" },
      facts([
        ["Time", when(ms)],
        ["Request", event.request_id ? h("a", { href: `#/events?${new URLSearchParams({ request_id: event.request_id })}`, class: "mono", text: event.request_id }) : null],
        ["Global request", event.global_request_id ? h("span", { class: "mono", text: event.global_request_id }) : null],
        ["Resource", event.resource_id ? h("a", { href: `#/events?${new URLSearchParams({ resource_id: event.resource_id })}`, class: "mono", text: event.resource_id }) : null],
        ["Project", event.project_id ? h("span", { class: "mono", text: event.project_id }) : null],
        ["User", event.user_id ? h("span", { class: "mono", text: event.user_id }) : null],
        ["Priority", event.priority],
        ["Message id", h("span", { class: "mono", text: event.message_id })],
      ]),
      traits.length ? h("div", {}, h("h4", { text: "Traits" }), facts(traits.map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]))) : null,
      h("details", { class: "payload" }, h("summary", { text: "Payload (as the service sent it)" }),
        h("pre", { class: "json", text: JSON.stringify(event.payload, null, 2) }))));
}
