// The swim-lane timeline of a trace: one lane per component, service or host (in the order the
// request reached them), each line a mark at its time since the start, joined in time order; the
// failing line ringed; the chain's notifications on a lane of their own. Plain SVG.

import { toMs } from "../format.js";
import { s, tip } from "../svg.js";

const LANE = 34;    // px per lane
const TOP = 26;     // the axis
const LEFT = 170;   // lane names
const RIGHT = 28;

function tickStep(span) {
  const raw = span / 6 || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

const offset = (ms) => (Math.abs(ms) < 1000 ? `${Math.round(ms)} ms` : `${Number((ms / 1000).toFixed(ms % 1000 ? 2 : 0))} s`);
const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/**
 * steps: the trace's steps; events: its notifications; lane: "component" | "service" | "host";
 * failedIndex: the failing step (-1: none); onPick(index) when a mark is chosen.
 */
export function swimlanes(steps, events, { lane = "component", failedIndex = -1, width = 1000, onPick = () => {} } = {}) {
  const start = steps[0].time_ms;
  const notes = events.map((e) => ({ ...e, at: toMs(e.time) - start })).filter((e) => Number.isFinite(e.at));
  const laneOf = (step) => step[lane] || step.service || "?";
  const lanes = [...new Set(steps.map(laneOf))];
  if (notes.length) lanes.push("notifications");
  const low = Math.min(0, ...notes.map((e) => e.at));
  const high = Math.max(1, steps[steps.length - 1].since_start_ms, ...notes.map((e) => e.at));
  const pad = (high - low) * 0.03;
  const x = (ms) => LEFT + ((ms - low + pad) / (high - low + 2 * pad)) * (width - LEFT - RIGHT);
  const y = (name) => TOP + lanes.indexOf(name) * LANE + LANE / 2;
  const height = TOP + lanes.length * LANE + (failedIndex >= 0 ? 24 : 6);  // room for "failed here" under the last lane

  const step = tickStep(high - low);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high; t += step) ticks.push(t);

  const bands = lanes.map((name, i) => s("g", { class: ["lane", i % 2 && "odd"] }, tip(name),
    s("rect", { x: 0, y: TOP + i * LANE, width, height: LANE, class: "lane-band" }),
    s("text", { x: LEFT - 12, y: y(name) + 4, "text-anchor": "end", class: "lane-label" }, clip(name, 24))));
  const axis = s("g", { class: "axis" }, ticks.map((t) => s("g", {},
    s("line", { x1: x(t), x2: x(t), y1: TOP - 4, y2: height - 6, class: "tick" }),
    s("text", { x: x(t), y: TOP - 9, "text-anchor": "middle", class: "tick-label" }, `+${offset(t)}`))));
  const flow = s("polyline", { class: "flow", fill: "none",
    points: steps.map((st) => `${x(st.since_start_ms).toFixed(1)},${y(laneOf(st))}`).join(" ") });

  const marks = steps.map((st, index) => {
    const failed = index === failedIndex;
    const label = `+${offset(st.since_start_ms)} · ${st.component || st.service} on ${st.host || "?"} · ${st.level || ""} · ${st.message}`;
    const mark = s("circle", { cx: x(st.since_start_ms).toFixed(1), cy: y(laneOf(st)), r: failed ? 8 : 6, tabindex: 0, role: "button",
      class: ["mark", `dot-${st.category || "none"}`, failed && "is-failed"], dataset: { index, lane: laneOf(st) }, aria: { label },
      on: { click: () => onPick(index), keydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onPick(index); } } } },
    tip(label));
    return mark;
  });
  const failure = failedIndex >= 0 ? s("g", { class: "failure-mark" },
    s("circle", { cx: x(steps[failedIndex].since_start_ms), cy: y(laneOf(steps[failedIndex])), r: 13, class: "failure-ring" }),
    s("text", { x: x(steps[failedIndex].since_start_ms), y: y(laneOf(steps[failedIndex])) + 26, "text-anchor": "middle", class: "failure-label" }, "failed here")) : null;
  const diamonds = notes.map((e) => {
    const cx = x(e.at);
    const cy = y("notifications");
    const label = `${e.event_type} · ${e.priority || ""} · ${e.service || ""}${e.host ? ` @ ${e.host}` : ""}`;
    return s("polygon", { points: `${cx},${cy - 7} ${cx + 7},${cy} ${cx},${cy + 7} ${cx - 7},${cy}`,
      class: ["note-mark", String(e.priority).toUpperCase() === "ERROR" && "is-error"] }, tip(label));
  });

  const svg = s("svg", { class: "swimlanes", width, height, viewBox: `0 0 ${width} ${height}`, role: "group",
    aria: { label: `Timeline: ${steps.length} lines over ${lanes.length} lanes${failedIndex >= 0 ? ", one failed" : ""}` },
    dataset: { lanes: lanes.length, marks: steps.length, failed: failedIndex } },
  bands, axis, flow, failure, marks, diamonds);
  return svg;
}
