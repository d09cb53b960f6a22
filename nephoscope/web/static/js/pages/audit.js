// Audit: who changed what, which notifications the server sent, which requests it refused — and
// OpenStack's own CADF notifications (keystone, keystonemiddleware) beside them.
//
// API call: GET /v1/audit?start_time=&end_time=&initiator=&action=&outcome=&target=&source=&limit=&offset=
// (+tenant_id for admins). Records carry text chosen by whoever made the request (names, user
// agents, OpenStack payloads): shown only as text.

import { facts, h, when } from "../dom.js";
import { isoSeconds, plural, toMs, utcInput, utcValue } from "../format.js";
import { searchList } from "./search-list.js";

const OUTCOMES = ["success", "failure", "denied", "pending", "unknown"];
const TEXT_FILTERS = [
  ["initiator", "Initiator", "user or key id, name, project, address"],
  ["action", "Action", "create, update, delete, notify, read… (prefix*)"],
  ["target", "Target", "id or type (alarm-definition, api-key…)"],
];
const SIZES = ["50", "100", "200"];

export default {
  title: "Audit",
  render(view, ctx) {
    view.append(h("div", { class: "page-head" }, h("h1", { text: "Audit" }),
      h("p", { class: "muted", text: `Scope: ${ctx.session.describe()} · changes, notifications sent, refused requests and OpenStack's CADF notifications` })));
    const body = h("div", { class: "section-body" });
    view.append(body);
    search(body, ctx);
  },
};

function choice(id, name, options, value) {
  const select = h("select", { id, name }, options.map(([key, label]) => h("option", { value: key, text: label })));
  select.value = options.some(([key]) => key === value) ? value : options[0][0];
  return select;
}

function search(body, ctx) {
  const p = ctx.route.params;
  const inputs = {};
  for (const [key, , placeholder] of TEXT_FILTERS) {
    inputs[key] = h("input", { id: `au-${key}`, name: key, placeholder, autocomplete: "off", spellcheck: "false", value: p.get(key) || "" });
  }
  inputs.outcome = choice("au-outcome", "outcome", [["", "any"], ...OUTCOMES.map((o) => [o, o])], p.get("outcome") || "");
  inputs.source = choice("au-source", "source", [["", "both"], ["nephoscope", "Nephoscope (chained)"], ["openstack", "OpenStack (CADF)"]], p.get("source") || "");
  inputs.start = h("input", { id: "au-start", name: "start", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off", class: "time-input", value: utcInput(Number(p.get("start"))) });
  inputs.end = h("input", { id: "au-end", name: "end", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off", class: "time-input", value: utcInput(Number(p.get("end"))) });
  inputs.limit = choice("au-limit", "limit", SIZES.map((n) => [n, n]), p.get("limit") || "50");
  const label = (text, input) => h("label", { class: "control", for: input.id }, h("span", { text }), input);
  const results = h("div", { id: "audit-results", aria: { live: "polite" } });
  const more = h("div", { class: "pager" });
  const form = h("form", { class: "card search-form", id: "audit-search", role: "search", aria: { label: "Search the audit trail" } },
    TEXT_FILTERS.map(([key, text]) => label(text, inputs[key])), label("Outcome", inputs.outcome), label("Source", inputs.source),
    label("From (UTC)", inputs.start), label("To (UTC)", inputs.end), label("Show", inputs.limit),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Search" }),
      h("button", { type: "reset", text: "Clear" })));
  body.append(form, results, more);

  function parameters() {
    const start = utcValue(inputs.start.value);
    const end = utcValue(inputs.end.value);
    const chosen = { outcome: inputs.outcome.value, source: inputs.source.value };
    for (const [key] of TEXT_FILTERS) chosen[key] = inputs[key].value.trim();
    ctx.setParams({ ...chosen, start, end, limit: inputs.limit.value === SIZES[0] ? "" : inputs.limit.value });
    const query = { ...chosen, limit: inputs.limit.value, ...ctx.session.tenant() };
    if (start) query.start_time = isoSeconds(start / 1000);
    if (end) query.end_time = isoSeconds(end / 1000);
    return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ""));
  }

  const pages = searchList(ctx, {
    form, results, more, path: "v1/audit", params: parameters, row: recordRow, noun: "record",
    listClass: "event-list audit-list", busy: "Reading the audit trail…", none: "No records match.",
    hint: "Every change, notification sent and refused request is recorded; OpenStack's CADF notifications appear when Nephoscope consumes RabbitMQ. Try a wider time range or fewer filters.",
  });
  pages.first();
}

function outcomeBadge(outcome) {
  return h("span", { class: ["badge", `outcome-${OUTCOMES.includes(outcome) ? outcome : "unknown"}`], text: outcome || "unknown" });
}

function shortType(type) {
  return String(type || "").split("/").filter(Boolean).pop() || "–";
}

function who(initiator) {
  const name = initiator.name && initiator.name !== initiator.id ? ` (${initiator.name})` : "";
  return `${initiator.id || "unknown"}${name}${initiator.address ? ` @ ${initiator.address}` : ""}`;
}

function origin(record) {
  if (record.source === "nephoscope") return `#${record.sequence}`;
  return [record.service, record.event_type].filter(Boolean).join(" · ");
}

/** One record: a summary line that opens to every field, the details and the CADF event itself. */
function recordRow(record) {
  const ms = toMs(record.timestamp);
  const target = record.target || {};
  const initiator = record.initiator || {};
  const reason = record.reason || {};
  return h("details", { class: ["event", "audit-entry", record.outcome === "denied" || record.outcome === "failure" ? "is-error" : null],
    dataset: { outcome: record.outcome || "", source: record.source, action: record.action || "" } },
  h("summary", {},
    h("span", { class: "event-time" }, when(ms, true)),
    h("span", { class: "audit-outcome" }, outcomeBadge(record.outcome), record.count > 1 ? h("span", { class: "kind", text: `×${record.count}` }) : null),
    h("span", { class: "audit-action mono", text: record.action || "–" }),
    h("span", { class: "audit-target" }, h("span", { class: "kind", text: shortType(target.type) }), " ",
      h("span", { class: "mono", text: target.name || target.id || "–" })),
    h("span", { class: "audit-initiator", text: who(initiator) }),
    h("span", { class: ["audit-source", "muted"], text: origin(record) })),
  h("div", { class: "event-body" },
    facts([
      ["Time", when(ms)],
      ["Outcome", h("span", {}, outcomeBadge(record.outcome), record.count > 1 ? ` ${plural(record.count, "request")} coalesced` : "")],
      ["Action", h("span", { class: "mono", text: record.action || "" })],
      ["What", record.name],
      ["Target", h("span", { class: "mono", text: [target.type, target.id, target.name, target.address].filter(Boolean).join(" · ") })],
      ["Initiator", h("span", { class: "mono", text: [initiator.id, initiator.name, initiator.project_id && `project ${initiator.project_id}`].filter(Boolean).join(" · ") })],
      ["From", [initiator.address, initiator.agent].filter(Boolean).join(" · ")],
      ["Reason", [reason.type && reason.code ? `${reason.type} ${reason.code}` : reason.code, reason.rule && `rule ${reason.rule}`, reason.text].filter(Boolean).join(" · ")],
      ["Project", record.project_id ? h("span", { class: "mono", text: record.project_id }) : null],
      ["Source", record.source === "nephoscope" ? `Nephoscope's chain, record ${record.sequence}` : `OpenStack: ${[record.service, record.publisher, record.channel].filter(Boolean).join(" · ")}`],
      ["Hash", record.hash ? h("span", { class: "mono small", text: `sha256:${record.hash}` }) : null],
    ]),
    record.details ? h("details", { class: "payload" }, h("summary", { text: "Details" }),
      h("pre", { class: "json", text: JSON.stringify(record.details, null, 2) })) : null,
    h("details", { class: "payload" }, h("summary", { text: "CADF event (as recorded)" }),
      h("pre", { class: "json", text: JSON.stringify(record.event, null, 2) }))));
}
