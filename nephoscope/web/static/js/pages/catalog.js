// The event catalog: every event type the pipeline understands (pattern, service, resource, traits,
// meaning), filterable; for admins, the unknown types seen, with counts and a sample.
//
// API call: GET /v1/events/types.

import { empty, fill, h, loading, table, when } from "../dom.js";
import { naturalSort, plural } from "../format.js";

export default async function catalog(body, ctx) {
  const filter = h("input", { id: "catalog-filter", type: "search", placeholder: "type, description or trait", autocomplete: "off" });
  const service = h("select", { id: "catalog-service" }, h("option", { value: "", text: "every service" }));
  const box = h("div", { id: "catalog-list" }, loading("Loading the catalog…"));
  const unknownBox = h("div", { id: "unknown-types" });
  body.append(
    h("div", { class: "toolbar" }, h("label", { class: "inline", for: "catalog-filter", text: "Filter" }), filter,
      h("label", { class: "inline", for: "catalog-service", text: "Service" }), service),
    box, unknownBox);
  let answer;
  try {
    answer = await ctx.get("v1/events/types");
  } catch (error) {
    ctx.failed(error, box);
    return;
  }
  const types = answer.elements.slice().sort((a, b) => naturalSort(a.pattern, b.pattern));
  const services = [...new Set(types.map((t) => t.service))].sort(naturalSort);
  service.append(...services.map((s) => h("option", { value: s, text: s })));
  service.value = ctx.route.params.get("service") || "";
  filter.value = ctx.route.params.get("q") || "";

  function render() {
    const words = filter.value.trim().toLowerCase();
    const shown = types.filter((t) => (!service.value || t.service === service.value) && (!words
      || `${t.pattern} ${t.description} ${t.resource_type} ${Object.keys(t.traits).join(" ")}`.toLowerCase().includes(words)));
    ctx.setParams({ q: filter.value.trim(), service: service.value });
    if (!shown.length) {
      fill(box, empty("No event type matches."));
      return;
    }
    fill(box, h("p", { class: "muted small", text: `${plural(shown.length, "event type")} of ${types.length}` }),
      table("Event types", [
        { label: "Event type", cell: (t) => h("a", { href: `#/events?${new URLSearchParams({ event_type: t.pattern })}`, class: "mono", text: t.pattern, title: "Search these events" }) },
        { label: "Service", cell: (t) => t.service },
        { label: "Resource", cell: (t) => (t.resource_type ? h("span", { class: "kind", text: t.resource_type }) : "–") },
        { label: "Meaning", class: "wide", cell: (t) => t.description },
        { label: "Traits", cell: (t) => h("details", { class: "traits" }, h("summary", { text: plural(Object.keys(t.traits).length, "trait") }),
          h("ul", { class: "plain" }, Object.entries(t.traits).map(([name, kind]) => h("li", {},
            h("span", { class: "mono", text: name }), h("span", { class: "muted", text: ` ${kind}` }))))) },
      ], shown, { rowAttrs: (t) => ({ dataset: { pattern: t.pattern } }) }));
  }
  filter.addEventListener("input", render);
  service.addEventListener("change", render);
  render();

  if (ctx.session.admin) {
    const unknown = answer.unknown || [];
    fill(unknownBox, h("section", { class: "card", aria: { labelledby: "unknown-title" } },
      h("h2", { id: "unknown-title", text: "Unknown event types seen" }),
      unknown.length ? table("Unknown event types", [
        { label: "Event type", cell: (u) => h("a", { href: `#/events?${new URLSearchParams({ event_type: u.event_type })}`, class: "mono", text: u.event_type }) },
        { label: "Count", cell: (u) => u.count.toLocaleString("en-US") },
        { label: "First seen", cell: (u) => when(u.first_seen_ms) },
        { label: "Last seen", cell: (u) => when(u.last_seen_ms) },
        { label: "Sample", cell: (u) => h("details", {}, h("summary", { text: "show" }), h("pre", { class: "json", text: JSON.stringify(u.sample, null, 2) })) },
      ], unknown) : empty("None: every event type received is in the catalog.")));
  }
  ctx.updated();
}
