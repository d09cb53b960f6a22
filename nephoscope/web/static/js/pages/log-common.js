// What the Logs, Traces and Scheduling pages share: categories and their colours, badges, links
// between the pages, the time-range picker, and reading one document by id.

import { fill, h, loading } from "../dom.js";
import { isoSeconds, parseUtc, utcInput } from "../format.js";

/** The pipeline's categories, in the order they are shown; colours in logs.css (.cat-<key>, .seg-<key>). */
export const CATEGORIES = [
  { key: "error", label: "error", hint: "true errors: something is broken" },
  { key: "telemetry", label: "telemetry", hint: "measurements and heartbeats: access lines, capacity reports" },
  { key: "noise", label: "noise", hint: "housekeeping and chatter nobody reads" },
  { key: "audit", label: "audit", hint: "who did what: authentication and authorisation" },
  { key: "info", label: "info", hint: "ordinary life-cycle events" },
];
export const LEVELS = ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"];

/** A category as a coloured tag (its name written too: colour is never alone). */
export function categoryTag(category) {
  const known = CATEGORIES.find((c) => c.key === category);
  return h("span", { class: ["cat", `cat-${known ? category : "none"}`], title: known ? known.hint : null, text: category || "–" });
}

/** A log level as a badge: ERROR/CRITICAL red, WARNING amber, DEBUG grey. */
export function levelBadge(level) {
  const text = (level || "–").toUpperCase();
  const kind = { CRITICAL: "lvl-critical", ERROR: "lvl-error", WARNING: "lvl-warning", DEBUG: "lvl-debug" }[text] || "lvl-info";
  return h("span", { class: ["badge", "lvl", kind], text });
}

const query = (params) => {
  const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const text = new URLSearchParams(clean).toString();
  return text ? `?${text}` : "";
};
export const logsHref = (params = {}) => `#/logs${query(params)}`;
export const traceHref = (requestId) => `#/traces/${encodeURIComponent(requestId)}`;
export const schedulingHref = (instanceId) => `#/traces/scheduling/${encodeURIComponent(instanceId)}`;
export const failuresHref = (resourceId) => `#/events/failures${query({ resource: resourceId })}`;

/** A request id that leads to its trace, with a second link to its log lines. */
export function requestLinks(requestId) {
  return h("span", { class: "id-links" },
    h("a", { href: traceHref(requestId), class: "mono", text: requestId, title: "Follow this request across services" }),
    h("a", { href: logsHref({ request_id: requestId, range: "7d" }), class: "small", text: "lines" }));
}

export const RANGES = [
  { key: "15m", label: "last 15 min", seconds: 900 },
  { key: "1h", label: "last hour", seconds: 3600 },
  { key: "6h", label: "last 6 h", seconds: 6 * 3600 },
  { key: "24h", label: "last 24 h", seconds: 86400 },
  { key: "7d", label: "last 7 days", seconds: 7 * 86400 },
  { key: "30d", label: "last 30 days", seconds: 30 * 86400 },
  { key: "custom", label: "from … to (UTC)", seconds: 0 },
];

/**
 * A time range: a select of ranges, and From/To (UTC) boxes when "custom" is picked. Reads its
 * first value from the address (range, from, to); `query()` gives start_time/end_time for the
 * API (throws with a sentence on a time it cannot read), `state()` what goes back in the address.
 */
export function rangePicker(params, { id = "range", fallback = "24h" } = {}) {
  const select = h("select", { id, aria: { label: "Time range" } }, RANGES.map((r) => h("option", { value: r.key, text: r.label })));
  const from = h("input", { id: `${id}-from`, class: "time-input", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off", aria: { label: "From (UTC)" } });
  const to = h("input", { id: `${id}-to`, class: "time-input", placeholder: "YYYY-MM-DD HH:MM (now)", autocomplete: "off", aria: { label: "To (UTC)" } });
  const custom = h("span", { class: "custom-range" }, from, h("span", { text: "to" }), to);
  select.value = RANGES.some((r) => r.key === params.get("range")) ? params.get("range") : fallback;
  from.value = utcInput(Number(params.get("from")));
  to.value = utcInput(Number(params.get("to")));
  const sync = () => { custom.hidden = select.value !== "custom"; };
  select.addEventListener("change", sync);
  sync();
  const read = (input) => {
    if (!input.value.trim()) return null;
    const ms = parseUtc(input.value);
    if (Number.isNaN(ms)) throw new Error(`“${input.value}” is not a UTC time such as 2026-12-05 18:00.`);
    return ms;
  };
  return {
    element: h("span", { class: "range-picker" }, select, custom),
    select,
    query() {
      if (select.value === "custom") {
        const start = read(from);
        const end = read(to);
        if (start === null) throw new Error("Give the start of the range (UTC), such as 2026-12-05 18:00.");
        return { start_time: isoSeconds(start / 1000), end_time: end === null ? "" : isoSeconds(end / 1000) };
      }
      const range = RANGES.find((r) => r.key === select.value);
      return { start_time: isoSeconds(Math.floor(Date.now() / 1000) - range.seconds), end_time: "" };
    },
    state() {
      if (select.value !== "custom") return { range: select.value === fallback ? "" : select.value };
      return { range: "custom", from: read(from) || "", to: read(to) || "" };
    },
    /** The range for links to other searches: the same key, or the default for a custom one. */
    linkRange() {
      return select.value === "custom" ? "" : select.value;
    },
    describe() {
      if (select.value !== "custom") return RANGES.find((r) => r.key === select.value).label;
      return `${from.value || "…"} to ${to.value || "now"} UTC`;
    },
  };
}

/** "27 %" (one decimal under 10 %, "0 %" only for nothing at all). */
export function percent(share) {
  const value = (share || 0) * 100;
  if (value === 0) return "0 %";
  if (value < 0.1) return "< 0.1 %";
  return `${value < 10 ? value.toFixed(1).replace(/\.0$/, "") : Math.round(value)} %`;
}

/** Read the document at `path` into `box` (a loading line meanwhile): the document, or null when
 *  `box` shows why not — `missing` (nodes) for a 404, the error otherwise. */
export async function readById(box, ctx, path, loadingText, ...missing) {
  fill(box, loading(loadingText));
  try {
    const doc = await ctx.get(path, ctx.session.tenant());
    ctx.updated();
    return doc;
  } catch (error) {
    if (error.status === 404) fill(box, ...missing);
    else ctx.failed(error, box);
    return null;
  }
}
