// Log search: text, time range and host in the form; service, level and category as facet chips
// with their counts, the top templates as a list; the lines newest first, a page at a time.
//
// API call: GET /v1/logs?q=&service=&host=&level=&category=&template_id=&request_id=&resource_id=
//   &logger=&start_time=&end_time=&limit=&offset= (+tenant_id for admins); the first page brings the
//   facets (counts by category, service, level and the top templates), "older" pages ask facets=false.

import { empty, errorBox, fill, h, loading } from "../dom.js";
import { figure, plural } from "../format.js";
import { CATEGORIES, LEVELS, categoryTag, rangePicker, traceHref } from "./log-common.js";
import { logRecord } from "./log-record.js";

const FILTERS = ["service", "level", "category", "template_id", "request_id", "resource_id", "logger"];
const NAMES = { service: "service", level: "level", category: "category", template_id: "template", request_id: "request",
  resource_id: "resource", logger: "logger" };
const PAGE = 100;

export default function search(body, ctx) {
  const p = ctx.route.params;
  const filters = Object.fromEntries(FILTERS.map((key) => [key, p.get(key) || ""]));
  let templateText = "";  // the chosen template's text, for its chip
  const q = h("input", { id: "log-q", type: "search", placeholder: "words in the message", autocomplete: "off", spellcheck: "false" });
  const host = h("input", { id: "log-host", placeholder: "any host", autocomplete: "off", spellcheck: "false", class: "mono" });
  q.value = p.get("q") || "";
  host.value = p.get("host") || "";
  const range = rangePicker(p, { id: "log-range", fallback: "1h" });
  const form = h("form", { class: "card search-form log-form", id: "log-search", role: "search", aria: { label: "Search log lines" } },
    h("label", { class: "control grow", for: "log-q" }, h("span", { text: "Text" }), q),
    h("label", { class: "control", for: "log-host" }, h("span", { text: "Host" }), host),
    h("div", { class: "control" }, h("label", { for: "log-range", text: "Time range" }), range.element),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Search" }),
      h("button", { type: "button", id: "log-clear", text: "Clear" })));
  const active = h("div", { id: "log-filters", class: "active-filters" });
  const facets = h("aside", { id: "log-facets", class: "facets", aria: { label: "Narrow the search" } });
  const summary = h("p", { id: "log-summary", class: "muted small" });
  const results = h("div", { id: "log-results", class: "log-list", aria: { live: "polite" } });
  const pager = h("div", { class: "pager" });
  body.append(form, h("div", { class: "log-layout" }, facets, h("div", { class: "log-main" }, active, summary, results, pager)));

  let next = null;
  let seq = 0;

  function query() {
    const params = { ...range.query(), q: q.value.trim(), host: host.value.trim(), ...filters, ...ctx.session.tenant() };
    ctx.setParams({ q: params.q, host: params.host, ...filters, ...range.state() });
    return params;
  }

  async function run({ more = false } = {}) {
    const mine = ++seq;
    let params;
    try { params = query(); } catch (error) { fill(results, errorBox(error)); return; }
    if (!more) {
      fill(results, loading("Searching log lines…"));
      pager.replaceChildren();
      renderActive();
    }
    try {
      const answer = await ctx.get("v1/logs", { ...params, limit: PAGE, offset: more ? next : "", facets: more ? "false" : "" });
      if (mine !== seq) return;
      const link = (answer.links || []).find((l) => l.rel === "next");
      next = link ? new URL(link.href, document.baseURI).searchParams.get("offset") : null;
      const rows = answer.elements.map((record) => logRecord(record, { range: range.linkRange() }));
      if (more) {
        results.append(...rows);
      } else {
        renderFacets(answer.facets || {});
        const total = (answer.facets?.category || []).reduce((sum, f) => sum + f.count, 0);
        results.dataset.total = String(total);
        summary.textContent = total ? `${plural(total, "line")} in the ${range.describe()}, newest first` : "";
        if (!rows.length) {
          fill(results, empty("No log line matches.", ctx.session.admin
            ? "Try a wider time range or fewer filters. Lines arrive through POST /v1/logs, /v3.0/logs or syslog."
            : "Try a wider time range or fewer filters. A project sees the error, info and audit lines about its own project and resources."));
        } else {
          fill(results, rows);
        }
      }
      results.dataset.count = String(results.querySelectorAll("details.log").length);
      fill(pager, next ? h("button", { type: "button", id: "log-older", text: "Older lines ↓", on: { click: () => run({ more: true }) } })
        : results.querySelector("details.log") ? h("span", { class: "muted small", text: "No older lines in this range." }) : null);
      ctx.updated();
    } catch (error) {
      if (mine === seq) ctx.failed(error, results);
    }
  }

  function setFilter(key, value) {
    filters[key] = filters[key] === value ? "" : value;
    if (key === "template_id" && !filters[key]) templateText = "";
    run();
  }

  function renderActive() {
    const chips = FILTERS.filter((key) => filters[key]).map((key) => {
      const shown = key === "template_id" && templateText ? templateText : filters[key];
      return h("span", { class: "chip", dataset: { filter: key } },
        h("span", { class: "chip-key", text: `${NAMES[key]}:` }), h("span", { class: key === "template_id" ? "mono clip" : "mono", text: shown }),
        h("button", { type: "button", aria: { label: `Remove the ${NAMES[key]} filter` }, text: "×", on: { click: () => setFilter(key, filters[key]) } }));
    });
    fill(active, chips.length ? h("span", { class: "chips" }, chips) : null,
      filters.request_id ? h("a", { href: traceHref(filters.request_id), class: "small", text: "Follow this request across services →" }) : null);
  }

  function chip(key, value, count, label) {
    if (value === null || value === undefined || value === "") {  // lines without one: counted, not a filter the API takes
      return h("span", { class: "facet-chip unset", title: `Lines with no ${NAMES[key]}` }, h("span", { class: "muted", text: "none" }), h("span", { class: "count", text: figure(count) }));
    }
    const pressed = filters[key] === value;
    return h("button", { type: "button", class: ["facet-chip", key === "category" && `cat-chip cat-${value}`], "aria-pressed": String(pressed),
      dataset: { facet: key, value }, title: pressed ? `Remove the ${NAMES[key]} filter` : `Only ${value}`,
      on: { click: () => setFilter(key, value) } }, label || h("span", { text: value }), h("span", { class: "count", text: figure(count) }));
  }

  function renderFacets(found) {
    const byValue = (list) => new Map((list || []).map((f) => [f.value, f.count]));
    const categories = byValue(found.category);
    const levels = byValue(found.level);
    const order = (list, known) => [...list].sort((a, b) => (known.indexOf(a[0]) + 99 * (known.indexOf(a[0]) < 0)) - (known.indexOf(b[0]) + 99 * (known.indexOf(b[0]) < 0)));
    const group = (title, key, items) => h("section", { class: "facet", dataset: { facet: key } },
      h("h3", { text: title }), items.length ? h("div", { class: "facet-chips" }, items) : h("p", { class: "muted small", text: "none" }));
    if (filters.template_id) {
      const chosen = (found.template || []).find((t) => t.template_id === filters.template_id);
      if (chosen) templateText = chosen.template;
      renderActive();
    }
    fill(facets,
      group("Category", "category", order([...categories], CATEGORIES.map((c) => c.key))
        .map(([value, count]) => chip("category", value, count, categoryTag(value)))),
      group("Service", "service", [...byValue(found.service)].map(([value, count]) => chip("service", value, count))),
      group("Level", "level", order([...levels], LEVELS).map(([value, count]) => chip("level", value, count))),
      h("section", { class: "facet", dataset: { facet: "template" } }, h("h3", { text: "Top templates" }),
        (found.template || []).length ? h("ol", { class: "template-facets" }, found.template.slice(0, 12).map((t) => h("li", {},
          h("button", { type: "button", class: ["template-facet", `is-${t.category}`], dataset: { template: t.template_id },
            "aria-pressed": String(filters.template_id === t.template_id), title: t.template,
            on: { click: () => setFilter("template_id", t.template_id) } },
          h("span", { class: "template-text", text: t.template }), h("span", { class: "count", text: figure(t.count) })))))
          : h("p", { class: "muted small", text: "none" })),
      ctx.session.admin ? null : h("p", { class: "muted small", text: "Noise and telemetry lines are the operators': a project sees error, info and audit lines." }));
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  range.select.addEventListener("change", () => { if (range.select.value !== "custom") run(); });
  form.querySelector("#log-clear").addEventListener("click", () => {
    q.value = "";
    host.value = "";
    for (const key of FILTERS) filters[key] = "";
    templateText = "";
    run();
  });
  run();
}
