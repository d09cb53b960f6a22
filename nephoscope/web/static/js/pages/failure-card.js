// One failure summary as a card: what failed in plain words, on which resource, when, and the ids
// to follow (request id → its trace across services and its events, resource → its other failures,
// an instance → why it was or was not scheduled). Every field is API text.

import { h, when } from "../dom.js";
import { schedulingHref, traceHref } from "./log-common.js";

const hash = (path, params) => `#/${path}?${new URLSearchParams(params)}`;

/** A request id: to its trace, with its events beside. */
const request = (id) => h("span", { class: "id-links" },
  h("a", { href: traceHref(id), class: "mono", text: id, title: "Follow this request across services" }),
  h("a", { href: hash("events", { request_id: id }), class: "small", text: "events", title: "The events of this request" }));

export function failureCard(failure, { compact = false, showProject = false } = {}) {
  const ms = failure.timestamp_ms ?? Date.parse(failure.timestamp);
  const rows = [
    ["Resource", h("span", { class: "id-links" },
      h("span", { class: "kind", text: failure.resource_type || "resource" }),
      h("a", { href: hash("events/failures", { resource: failure.resource_id }), class: "mono", text: failure.resource_id,
        title: "Every failure of this resource" }),
      failure.resource_type === "instance" && !compact
        ? h("a", { href: schedulingHref(failure.resource_id), class: "small", text: "scheduling", title: "Why it was (not) scheduled" }) : null)],
    ["Request", failure.request_id ? request(failure.request_id) : h("span", { class: "muted", text: "–" })],
    ["Exception", failure.exception ? h("code", { text: failure.exception }) : h("span", { class: "muted", text: "–" })],
  ];
  if (!compact) {
    if (failure.global_request_id && failure.global_request_id !== failure.request_id) {
      rows.push(["Global request", request(failure.global_request_id)]);
    }
    rows.push(["Action", h("span", { class: "mono", text: failure.action || failure.event_type })]);
    if (failure.host) rows.push(["Host", h("span", { class: "mono", text: failure.host })]);
    if (showProject && failure.project_id) rows.push(["Project", h("span", { class: "mono", text: failure.project_id })]);
    if (failure.detail) rows.push(["The logs add", h("code", { text: failure.detail })]);
    const sources = (failure.sources || []).map((source) => (source === "events" ? "notifications" : source));
    if (sources.length) rows.push(["From", sources.join(" and ")]);
  }
  return h("article", { class: ["failure", compact && "compact"], dataset: { resource: failure.resource_id, request: failure.request_id || "" } },
    h("p", { class: "failure-time" }, when(ms)),
    h("h3", { class: "failure-summary", text: failure.summary || `${failure.event_type} failed` }),
    h("dl", { class: "failure-facts" }, rows.map(([label, value]) => h("div", { class: "fact" }, h("dt", { text: label }), h("dd", {}, value)))),
    !compact && failure.message ? h("details", { class: "failure-message" },
      h("summary", { text: "The service's own message" }), h("pre", { text: failure.message })) : null);
}
