// One log record as a row that opens: time, level, category, where it came from and the message;
// opened, everything the pipeline read from it, with the ids as links (request → trace, instance
// → failures and scheduling, template → every line like it) and the traceback. All API text.

import { facts, h, when } from "../dom.js";
import { toMs, utc } from "../format.js";
import { categoryTag, failuresHref, levelBadge, logsHref, requestLinks, schedulingHref } from "./log-common.js";

const mono = (text) => h("span", { class: "mono", text });

function resourceLinks(id, kind, range) {
  return h("span", { class: "id-links" }, mono(id),
    h("a", { href: failuresHref(id), class: "small", text: "failures" }),
    kind === "instance" ? h("a", { href: schedulingHref(id), class: "small", text: "scheduling" }) : null,
    h("a", { href: logsHref({ resource_id: id, range }), class: "small", text: "lines" }));
}

function http(record) {
  if (!record.http_method && !record.http_status) return null;
  const parts = [`${record.http_method || ""} ${record.http_path || ""}`.trim(), record.http_status ? `→ ${record.http_status}` : "",
    record.http_bytes !== null && record.http_bytes !== undefined ? `${record.http_bytes} B` : "",
    record.http_latency_ms !== null && record.http_latency_ms !== undefined ? `${Math.round(record.http_latency_ms)} ms` : ""];
  return mono(parts.filter(Boolean).join("  "));
}

/** range: the search's range key, kept on the links to other searches. */
export function logRecord(record, { range = "" } = {}) {
  const ms = toMs(record.time) ?? record.ts;
  const others = (record.resource_ids || []).filter((id) => id !== record.instance_id && id !== record.volume_id);
  const exception = [record.exception_type, record.exception_message].filter(Boolean).join(": ");
  const origin = [record.service, record.component && record.component !== record.service ? record.component : null].filter(Boolean).join(" / ");
  return h("details", { class: ["log", `is-${record.category || "none"}`], dataset: {
    category: record.category || "", level: record.level || "", service: record.service || "", template: record.template_id || "",
    request: record.request_id || "" } },
  h("summary", {},
    h("span", { class: "log-time" }, when(ms, true), h("span", { class: "utc muted", text: utc(ms).slice(11) })),
    h("span", { class: "log-level" }, levelBadge(record.level)),
    h("span", { class: "log-cat" }, categoryTag(record.category)),
    h("span", { class: "log-origin", title: origin, text: origin || "–" }),
    h("span", { class: "log-host mono", title: record.host || "", text: record.host || "–" }),
    h("span", { class: "log-message", text: record.message || record.raw || "" }),
    record.traceback ? h("span", { class: "kind", text: "traceback" }) : null),
  h("div", { class: "log-body" },
    h("p", { class: "log-full", text: record.message || "" }),
    facts([
      ["Time", h("span", {}, `${utc(ms).replace(" UTC", "")}.${String(ms % 1000).padStart(3, "0")} UTC · `, when(ms, true))],
      ["Category", h("span", {}, categoryTag(record.category), " ", h("span", { class: "muted small", text: record.rule ? `rule ${record.rule}` : "" }))],
      ["Template", record.template_id ? h("span", { class: "template-cell" }, h("code", { text: record.template }),
        " ", h("a", { href: logsHref({ template_id: record.template_id, range }), class: "small", text: "every line like this" }),
        record.is_new_template ? h("span", { class: "badge new", text: "NEW" }) : null) : null],
      ["Request", record.request_id ? requestLinks(record.request_id) : null],
      ["Global request", record.global_request_id && record.global_request_id !== record.request_id ? requestLinks(record.global_request_id) : null],
      ["Instance", record.instance_id ? resourceLinks(record.instance_id, "instance", range) : null],
      ["Volume", record.volume_id ? resourceLinks(record.volume_id, "volume", range) : null],
      ["Other ids", others.length ? h("span", { class: "id-list" }, others.map((id) => h("a", { href: logsHref({ resource_id: id, range }), class: "mono", text: id }))) : null],
      ["User / project", record.user || record.project ? mono(`${record.user || "–"} / ${record.project || "–"}`) : null],
      ["Logger", record.logger ? mono(`${record.logger}${record.pid ? ` (pid ${record.pid})` : ""}`) : null],
      ["Host", record.host ? mono(record.host) : null],
      ["HTTP", http(record)],
      ["Exception", exception ? h("code", { class: "exception", text: exception }) : null],
    ]),
    record.traceback ? h("div", {}, h("h4", { text: "Traceback" }), h("pre", { class: "traceback", text: record.traceback })) : null,
    h("details", { class: "raw" }, h("summary", { text: record.lines > 1 ? `Raw lines (${record.lines})` : "Raw line" }),
      h("pre", { text: record.raw || "" }))));
}
