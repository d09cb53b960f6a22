// Building the page: elements from plain data, never from HTML strings.
//
// Everything the API returns (event payloads, log lines, names) is attacker-controlled, so text
// only ever goes in with textContent (h() turns string children into text nodes), links only
// point inside the dashboard ("#/..."), and no inline handlers exist: listeners come from `on`.

import { ago, utc } from "./format.js";

/**
 * h("a", { href: "#/x", class: "y", on: { click: f }, dataset: { k: "v" }, aria: { label: "z" } }, "text", child)
 * Attributes are set with setAttribute; `text` sets textContent; null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") element.textContent = String(value);
    else if (key === "on") for (const [name, listener] of Object.entries(value)) element.addEventListener(name, listener);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "aria") for (const [name, text] of Object.entries(value)) element.setAttribute(`aria-${name}`, String(text));
    else if (key === "style") throw new Error("h(): no inline styles (the page's CSP forbids them); use a class");
    else if (key.startsWith("on")) throw new Error(`h(): no inline handler ${key}; use { on: { ... } }`);
    else if (key === "href" && !String(value).startsWith("#")) throw new Error("h(): links stay inside the dashboard");
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Append children, skipping null/false ones (the DOM's own append would write "null"). */
export function add(element, ...children) {
  append(element, children);
  return element;
}

/** Replace an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A loading placeholder, announced to screen readers. */
export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** An empty state: says what is missing and, when it helps, what to do about it. */
export function empty(text, hint) {
  return h("div", { class: "empty-state" }, h("p", { text }), hint ? h("p", { class: "muted small", text: hint }) : null);
}

/** An error box (role=alert) with the message of an ApiError or any error. */
export function errorBox(error) {
  const message = typeof error === "string" ? error : error.message;
  return h("p", { class: "error", role: "alert" }, message);
}

/** A time as "3 min ago", with the UTC time beside it (or in the tooltip when `compact`). */
export function when(ms, compact = false) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return h("span", { class: "muted", text: "–" });
  const iso = new Date(ms).toISOString();
  const relative = h("time", { datetime: iso, title: utc(ms), dataset: { ms: String(ms) }, class: "ago" }, ago(ms));
  if (compact) return relative;
  return h("span", { class: "when" }, relative, h("span", { class: "utc muted", text: utc(ms) }));
}

/** Refresh every relative time on the page ("3 min ago" becomes "4 min ago"). */
export function refreshTimes(root = document) {
  for (const element of root.querySelectorAll("time.ago[data-ms]")) element.textContent = ago(Number(element.dataset.ms));
}

const STATE_CLASS = { ALARM: "alarm", OK: "ok", UNDETERMINED: "undetermined" };

/**
 * Newest-first pages of a list answer, with "← Newer" and "Older →" buttons in `box` from the
 * answer's `next` link. `load(offset)` shows one page and returns its answer (or nothing, when it
 * failed). Returns { first() } to start again from the newest page.
 */
export function pager(box, load) {
  const newer = [];  // offsets of the pages before this one
  let offset = "";
  async function show() {
    box.replaceChildren();
    const answer = await load(offset);
    const next = answer && (answer.links || []).find((link) => link.rel === "next");
    fill(box,
      newer.length ? h("button", { type: "button", text: "← Newer", on: { click: () => { offset = newer.pop(); show(); } } }) : null,
      next ? h("button", { type: "button", text: "Older →", on: { click: () => {
        newer.push(offset);
        offset = new URL(next.href, document.baseURI).searchParams.get("offset");
        show();
      } } }) : null);
  }
  return { first() { offset = ""; newer.length = 0; return show(); } };
}

/** A coloured badge for an alarm state or a severity (its text says it too: colour is never alone). */
export function badge(value) {
  const text = String(value || "–").toUpperCase();
  const kind = STATE_CLASS[text] ? `state-${STATE_CLASS[text]}` : `severity-${text.toLowerCase()}`;
  return h("span", { class: ["badge", kind], text });
}

/** key=value chips for a dimensions object. */
export function dimensionChips(dimensions) {
  const keys = Object.keys(dimensions || {}).sort();
  return h("span", { class: "dims" }, keys.map((key) => h("span", { class: "dim" },
    h("span", { class: "dim-key", text: key }), h("span", { class: "dim-value", text: dimensions[key] }))));
}

/** A description list from [label, value] pairs (values may be nodes). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, value]) => value !== undefined && value !== null && value !== "")
    .map(([label, value]) => [h("dt", { text: label }), h("dd", {}, value)]));
}

/** A table: columns [{ label, cell(row) -> node|string, class }], with an accessible caption. */
export function table(caption, columns, rows, { rowAttrs } = {}) {
  return h("table", { class: "grid" },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class, text: c.label })))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h("td", { class: c.class }, c.cell(row)))))));
}

/** Sub-navigation of a section: tabs as links, the current one marked with aria-current. */
export function tabs(label, items, current) {
  return h("nav", { class: "tabs", aria: { label } }, items.map((item) => h("a", {
    href: item.href, class: "tab", "aria-current": item.key === current ? "page" : null, text: item.label,
  })));
}

/** A labelled form field: label, control, hint and a slot for the server's message about it. */
export function field(label, control, { hint, name } = {}) {
  const id = control.id || `f-${name || Math.random().toString(36).slice(2)}`;
  control.id = id;
  const message = h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  const help = hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null;
  control.setAttribute("aria-describedby", [help && help.id, message.id].filter(Boolean).join(" "));
  return h("div", { class: "field", dataset: { field: name || "" } }, h("label", { for: id, text: label }), control, help, message);
}
