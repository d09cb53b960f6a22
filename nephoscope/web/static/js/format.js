// Numbers, units and times as people read them. Times are always UTC ("… UTC") and relative.

/** An API timestamp ("2026-12-05T18:36:40.062Z", epoch ms, or a number string) as epoch ms. */
export function toMs(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return value;
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** "2026-12-05 18:36:40 UTC" */
export function utc(ms) {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** "18:36:40 UTC" */
export function utcTime(ms) {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago" (and "in 3 min" for the future). */
export function ago(ms, now = Date.now()) {
  const seconds = Math.round((now - ms) / 1000);
  const future = seconds < -5;
  const s = Math.abs(seconds);
  let text;
  if (s < 10) return "just now";
  else if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
  else text = `${Math.floor(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** Seconds since the epoch as the API's ISO 8601 ("2026-12-05T18:36:40Z"). */
export const isoSeconds = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");

/** A duration in seconds as "5 min", "1 h", "1 d". */
export function duration(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The unit a Monasca metric name implies, as [unit, factor to that unit]. */
export function unitOf(name) {
  if (/(_perc|_percent|\.percent)$/.test(name)) return ["%", 1];
  if (/kbytes_sec$/.test(name)) return ["B/s", 1024];
  if (/bytes_sec$/.test(name)) return ["B/s", 1];
  if (/(_bytes|\.bytes)$/.test(name)) return ["B", 1];
  if (/\.gb$/.test(name)) return ["B", 1024 ** 3];
  if (/_mb$/.test(name)) return ["B", 1024 * 1024];
  if (/_ms$/.test(name)) return ["ms", 1];
  if (/(per_sec|_sec)$/.test(name)) return ["/s", 1];
  return ["", 1];
}

export function trim(value) {
  const abs = Math.abs(value);
  const digits = abs === 0 || abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return Number(value.toFixed(digits)).toString();
}

export function compact(value) {
  const abs = Math.abs(value);
  for (const [size, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= size) return trim(value / size) + suffix;
  }
  return trim(value);
}

export function bytes(value) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let index = 0;
  while (Math.abs(value) >= 1024 && index < units.length - 1) { value /= 1024; index++; }
  return `${trim(value)} ${units[index]}`;
}

/** A value in a unit from unitOf, for axes, legends and figures. */
export function format(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (unit === "B") return bytes(value);
  if (unit === "B/s") return `${bytes(value)}/s`;
  if (unit === "%") return `${trim(value)} %`;
  return unit ? `${compact(value)} ${unit}` : compact(value);
}

/** Like format, but exact counts read better than "2.48k" while they are small. */
export function figure(value, unit = "") {
  if (!unit && Number.isInteger(value) && Math.abs(value) < 1e6) return value.toLocaleString("en-US");
  return format(value, unit);
}

export function plural(count, word, many = `${word}s`) {
  return `${count.toLocaleString("en-US")} ${count === 1 ? word : many}`;
}

export function naturalSort(a, b) {
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

/** "2026-12-05 18:00" for a UTC time input. */
export function utcInput(ms) {
  return ms ? new Date(ms).toISOString().slice(0, 16).replace("T", " ") : "";
}

/** A UTC time field's text as epoch ms, "" when empty; throws a message for the user when it is no time. */
export function utcValue(text) {
  const typed = String(text || "").trim();
  if (!typed) return "";
  const ms = parseUtc(typed);
  if (Number.isNaN(ms)) throw new Error(`“${typed}” is not a UTC time such as 2026-12-05 18:00.`);
  return ms;
}

/** A UTC time typed as "2026-12-05 18:00" (seconds, "T" and "Z" optional) as epoch ms, or NaN. */
export function parseUtc(text) {
  const match = /^\s*(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(?:Z|UTC)?\s*$/i.exec(text || "");
  if (!match) return NaN;
  const [, day, hours = "0", minutes = "00", seconds = "00"] = match;
  return Date.parse(`${day}T${hours.padStart(2, "0")}:${minutes}:${seconds}Z`);
}
