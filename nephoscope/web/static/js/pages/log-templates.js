// Log templates: every distinct message shape seen in the range (variable parts masked as <*>),
// most frequent first, with its category, first and last time, services, and whether it is new in
// the range. A template links to its lines.
//
// API call: GET /v1/logs/templates?service=&category=&start_time=&end_time=&limit= (+tenant_id).

import { empty, errorBox, fill, h, loading, table, when } from "../dom.js";
import { figure, naturalSort, plural, toMs } from "../format.js";
import { CATEGORIES, categoryTag, logsHref, rangePicker } from "./log-common.js";

const LIMIT = 500;

export default function templates(body, ctx) {
  const p = ctx.route.params;
  const range = rangePicker(p, { id: "tpl-range", fallback: "24h" });
  const category = h("select", { id: "tpl-category" }, h("option", { value: "", text: "every category" }),
    CATEGORIES.map((c) => h("option", { value: c.key, text: c.label })));
  const service = h("select", { id: "tpl-service" }, h("option", { value: "", text: "every service" }));
  const filter = h("input", { id: "tpl-filter", type: "search", placeholder: "words in the template", autocomplete: "off" });
  const onlyNew = h("input", { id: "tpl-new", type: "checkbox" });
  category.value = CATEGORIES.some((c) => c.key === p.get("category")) ? p.get("category") : "";
  filter.value = p.get("q") || "";
  onlyNew.checked = p.get("new") === "1";
  const box = h("div", { id: "template-list" }, loading("Loading templates…"));
  body.append(h("div", { class: "toolbar" },
    h("label", { class: "inline", for: "tpl-range", text: "Seen in the" }), range.element,
    h("label", { class: "inline", for: "tpl-category", text: "Category" }), category,
    h("label", { class: "inline", for: "tpl-service", text: "Service" }), service,
    h("label", { class: "inline", for: "tpl-filter", text: "Filter" }), filter,
    h("label", { class: "check", for: "tpl-new" }, onlyNew, "only new")), box);

  let found = [];
  let wantedService = p.get("service") || "";
  const remember = () => ctx.setParams({ ...range.state(), category: category.value, service: wantedService,
    q: filter.value.trim(), new: onlyNew.checked ? "1" : "" });

  async function load() {
    let params;
    try { params = range.query(); } catch (error) { fill(box, errorBox(error)); return; }
    remember();
    fill(box, loading("Loading templates…"));
    try {
      const answer = await ctx.get("v1/logs/templates", { ...params, category: category.value, service: wantedService, limit: LIMIT, ...ctx.session.tenant() });
      found = answer.elements;
      const services = [...new Set([...found.flatMap((t) => t.services || []), wantedService].filter(Boolean))].sort(naturalSort);
      service.replaceChildren(h("option", { value: "", text: "every service" }), ...services.map((s) => h("option", { value: s, text: s })));
      service.value = wantedService;
      show();
      ctx.updated();
    } catch (error) { ctx.failed(error, box); }
  }

  function show() {
    const words = filter.value.trim().toLowerCase();
    const rows = found.filter((t) => (!words || (t.template || "").toLowerCase().includes(words)) && (!onlyNew.checked || t.new_in_range));
    box.dataset.count = String(rows.length);
    if (!rows.length) {
      fill(box, empty(found.length ? "No template matches the filter." : "No log line in this range.",
        found.length ? null : "Templates come from the lines the server receives; try a wider range."));
      return;
    }
    const most = Math.max(...rows.map((t) => t.count));
    const logRange = range.linkRange();
    fill(box, h("p", { class: "muted small", text: `${plural(rows.length, "template")}${rows.length === LIMIT ? " (the most frequent)" : ""}, most lines first; a template opens its lines` }),
      table("Log templates", [
        { label: "Template", class: "wide", cell: (t) => h("span", { class: "template-cell" },
          h("a", { href: logsHref({ template_id: t.template_id, range: logRange }), class: "template-link", text: t.template }),
          t.new_in_range ? h("span", { class: "badge new", title: "first seen in this range", text: "NEW" }) : null) },
        { label: "Category", cell: (t) => categoryTag(t.category) },
        { label: "Lines", class: "num", cell: (t) => h("span", { class: "count-cell" },
          h("span", { class: "count-bar" }, h("span", { class: ["count-fill", `seg-${t.category}`], dataset: { share: String(t.count / most) } })),
          h("span", { class: "count-num", text: figure(t.count) })) },
        { label: "First seen", cell: (t) => when(toMs(t.first_seen), true) },
        { label: "Last seen", cell: (t) => when(toMs(t.last_seen), true) },
        { label: "Services", cell: (t) => (t.services || []).join(", ") },
      ], rows, { rowAttrs: (t) => ({ dataset: { template: t.template_id, category: t.category || "" } }) }));
    // Bar lengths through the CSSOM (the CSP allows it, unlike style attributes).
    for (const bar of box.querySelectorAll(".count-fill")) bar.style.width = `${Math.max(Number(bar.dataset.share) * 100, 1)}%`;
  }

  range.select.addEventListener("change", () => { if (range.select.value !== "custom") load(); });
  range.element.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target.tagName === "INPUT") load(); });
  category.addEventListener("change", load);
  service.addEventListener("change", () => { wantedService = service.value; load(); });
  for (const [input, kind] of [[filter, "input"], [onlyNew, "change"]]) input.addEventListener(kind, () => { remember(); show(); });
  load();
}
