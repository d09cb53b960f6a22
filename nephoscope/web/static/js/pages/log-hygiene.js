// Log hygiene: per service, how its lines split into categories (a stacked bar), how much is noise,
// how much cannot be followed (no request id) or read (no known format), its top templates, and
// what its logging should change, said in words.
//
// API call: GET /v1/logs/hygiene?start_time=&end_time= (+tenant_id for admins).

import { empty, errorBox, fill, h, loading } from "../dom.js";
import { bytes, figure, plural } from "../format.js";
import { stackedBar } from "../svg.js";
import { CATEGORIES, categoryTag, logsHref, percent, rangePicker } from "./log-common.js";

const NOISY = 0.1;        // a noise share worth a sentence
const CHATTY = 0.5;       // telemetry share worth one
const UNTRACEABLE = 0.5;  // lines without a request id

export default function hygiene(body, ctx) {
  const range = rangePicker(ctx.route.params, { id: "hyg-range", fallback: "24h" });
  const box = h("div", { id: "hygiene" }, loading("Reading the services' logging…"));
  body.append(h("div", { class: "toolbar" }, h("label", { class: "inline", for: "hyg-range", text: "Lines of the" }), range.element,
    h("span", { class: "muted small", text: ctx.session.admin ? "What each service logs, and what its logging should change."
      : "Counted over the lines your project may read; operators see every line, noise and telemetry too." })), box);

  async function load() {
    let params;
    try { params = range.query(); } catch (error) { fill(box, errorBox(error)); return; }
    ctx.setParams(range.state());
    fill(box, loading("Reading the services' logging…"));
    try {
      const answer = await ctx.get("v1/logs/hygiene", { ...params, ...ctx.session.tenant() });
      const services = answer.elements;
      if (!services.length) {
        fill(box, empty("No log line in this range.", "Try a wider range; lines arrive through POST /v1/logs, /v3.0/logs or syslog."));
        return;
      }
      const logRange = range.linkRange();
      fill(box, overview(services), h("div", { class: "hygiene-grid" }, services.map((s) => serviceCard(s, logRange))));
      ctx.updated();
    } catch (error) { ctx.failed(error, box); }
  }

  range.select.addEventListener("change", () => { if (range.select.value !== "custom") load(); });
  range.element.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target.tagName === "INPUT") load(); });
  load();
}

const segments = (service) => CATEGORIES.map((c) => ({ key: c.key, label: c.label, value: service.by_category[c.key] || 0 }));

/** Every service's volume on one scale: who logs the most, and of what. */
function overview(services) {
  const most = Math.max(...services.map((s) => s.records));
  return h("section", { class: "card", aria: { labelledby: "hyg-volume" } },
    h("div", { class: "card-head" }, h("h2", { id: "hyg-volume", text: "Volume by service" }), legend()),
    h("table", { class: "volume-chart" }, h("caption", { class: "visually-hidden", text: "Lines per service, by category" }),
      h("tbody", {}, services.map((s) => h("tr", { dataset: { service: s.service } },
        h("th", { scope: "row", text: s.service }),
        h("td", { class: "bar-cell" }, stackedBar(segments(s), { width: 600, height: 16, total: most,
          label: `${s.service}: ${segments(s).filter((seg) => seg.value).map((seg) => `${seg.value} ${seg.label}`).join(", ")}` })),
        h("td", { class: "num", text: plural(s.records, "line") }),
        h("td", { class: "num muted", text: bytes(s.bytes || 0) }))))));
}

function legend() {
  return h("ul", { class: "cat-legend", aria: { label: "Categories" } }, CATEGORIES.map((c) => h("li", { title: c.hint },
    h("span", { class: ["swatch", `seg-${c.key}`] }), c.label)));
}

function serviceCard(service, range) {
  const share = (key) => (service.records ? (service.by_category[key] || 0) / service.records : 0);
  const figures = [  // key, label, share, what it means, from when it is worth a word
    ["noise", "noise", service.noise_share, "of the lines are noise", NOISY],
    ["no-request", "no request id", service.without_request_id_share, "cannot be followed (no request id)", UNTRACEABLE],
    ["unparsed", "unparsed", service.unparsed_share, "are in no known format", 0.001],
  ];
  return h("article", { class: "card hygiene-card", dataset: { service: service.service, records: String(service.records) }, aria: { labelledby: `hyg-${service.service}` } },
    h("div", { class: "card-head" },
      h("h2", { id: `hyg-${service.service}`, text: service.service }),
      h("span", { class: "muted small", text: `${plural(service.records, "line")} · ${bytes(service.bytes || 0)}` })),
    stackedBar(segments(service), { width: 600, height: 22 }),
    h("ul", { class: "cat-counts" }, CATEGORIES.map((c) => h("li", { dataset: { category: c.key, count: String(service.by_category[c.key] || 0) } },
      h("a", { href: logsHref({ service: service.service, category: c.key, range }), title: `The ${c.label} lines of ${service.service}` },
        categoryTag(c.key), " ", h("strong", { text: figure(service.by_category[c.key] || 0) }), h("span", { class: "muted", text: ` ${percent(share(c.key))}` }))))),
    h("dl", { class: "shares" }, figures.map(([key, label, value, long, high]) => h("div", { class: ["share", value >= high && "is-high"], dataset: { share: key, value: String(value) }, title: `${percent(value)} ${long}` },
      h("dt", { text: label }), h("dd", { text: percent(value) })))),
    h("h3", { class: "advice-title", text: "What to change" }),
    h("ul", { class: "advice" }, advice(service, range).map((item) => h("li", {}, item))),
    service.top_templates.length ? h("details", { class: "top-templates", open: true }, h("summary", { text: "Top templates" }),
      h("ol", {}, service.top_templates.map((t) => h("li", { dataset: { template: t.template_id } },
        categoryTag(t.category), " ", h("a", { href: logsHref({ template_id: t.template_id, service: service.service, range }), class: "mono", text: t.template }),
        h("span", { class: "muted small", text: ` · ${plural(t.count, "line")}` }))))) : null);
}

/** Sentences about what the service's logging should change, most useful first. */
function advice(service, range) {
  const name = service.service;
  const lines = service.records || 1;
  const top = (category) => service.top_templates.find((t) => t.category === category);
  const quote = (t) => h("a", { href: logsHref({ template_id: t.template_id, service: name, range }), class: "mono quote", text: t.template });
  const said = [];
  const noise = top("noise");
  if (service.noise_share >= NOISY) {
    said.push(noise
      ? h("span", {}, `${percent(service.noise_share)} of ${name}'s lines are noise: the top noisy template is `, quote(noise),
        ` (${plural(noise.count, "line")}). Log it less often or at DEBUG with debug off in production, or drop it at the agent.`)
      : `${percent(service.noise_share)} of ${name}'s lines are noise (housekeeping nobody reads): log those messages at DEBUG with debug off, or drop them at the agent.`);
  }
  const telemetry = service.by_category.telemetry / lines;
  if (telemetry >= CHATTY) {
    const t = top("telemetry");
    said.push(h("span", {}, `${percent(telemetry)} of ${name}'s lines are telemetry (access lines, capacity reports, heartbeats)`,
      t ? h("span", {}, ", led by ", quote(t), ` (${plural(t.count, "line")})`) : null,
      ": their figures are metrics already (log.records, log.http.*); sample them or keep them out of the searchable logs."));
  }
  if (service.without_request_id_share >= UNTRACEABLE) {
    said.push(`${percent(service.without_request_id_share)} of ${name}'s lines carry no request id, so they cannot be followed across services: periodic tasks and agent loops have none, but API and RPC handlers should log with the request's context.`);
  }
  if (service.unparsed_share > 0) {
    said.push(`${percent(service.unparsed_share)} of ${name}'s lines are in no known format (start-up scripts, prints, a changed logging_context_format_string): keep oslo.log's default format, or use_json, so they can be read.`);
  }
  const errors = service.by_category.error || 0;
  if (errors) {
    said.push(h("span", {}, `${plural(errors, "true error")} in the range: `,
      h("a", { href: logsHref({ service: name, category: "error", range }), text: "read them" }), "."));
  }
  if (!said.length) said.push(`Nothing stands out: ${name}'s lines are mostly signal, carry request ids and parse.`);
  return said;
}
