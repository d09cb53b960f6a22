// Small charts drawn as SVG elements (no library): built like dom.h(), text only ever as text.
//
// Colours come from classes (app.css / logs.css), never from style attributes, which the page's
// CSP forbids; geometry is plain attributes (x, y, width...), which it allows.

import { figure } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

/** s("rect", { x: 1, class: "y", on: { click: f } }, child): an SVG element; string children become text. */
export function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (key === "text") element.textContent = String(value);
    else if (key === "on") for (const [name, listener] of Object.entries(value)) element.addEventListener(name, listener);
    else if (key === "dataset") for (const [name, text] of Object.entries(value)) element.dataset[name] = String(text);
    else if (key === "aria") for (const [name, text] of Object.entries(value)) element.setAttribute(`aria-${name}`, String(text));
    else if (key === "style" || key.startsWith("on") || key === "href") throw new Error(`s(): ${key} is not allowed`);
    else element.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A tooltip: an SVG <title> (read by screen readers too). */
export const tip = (text) => s("title", { text });

/**
 * A horizontal stacked bar: segments [{ key, label, value }] drawn left to right in `width`
 * (scaled to `total`, the segments' sum unless given). Each segment carries data-key and
 * data-value and the class `seg seg-<key>`; zero segments are left out.
 */
export function stackedBar(segments, { width = 400, height = 18, total, label = "" } = {}) {
  const sum = segments.reduce((a, seg) => a + seg.value, 0);
  const scale = (total || sum) > 0 ? width / (total || sum) : 0;
  let x = 0;
  const rects = [];
  for (const seg of segments) {
    if (!seg.value) continue;
    const w = Math.max(seg.value * scale, 1.5);
    const share = sum ? ` (${Math.round((seg.value / sum) * 100)} %)` : "";
    rects.push(s("rect", { x: x.toFixed(2), y: 0, width: w.toFixed(2), height, class: ["seg", `seg-${seg.key}`],
      dataset: { key: seg.key, value: seg.value } }, tip(`${seg.label}: ${figure(seg.value)}${share}`)));
    x += w;
  }
  return s("svg", { class: "stacked-bar", viewBox: `0 0 ${width} ${height}`, width, height, preserveAspectRatio: "none",
    role: "img", aria: { label: label || segments.filter((seg) => seg.value).map((seg) => `${seg.label} ${seg.value}`).join(", ") } },
  s("rect", { x: 0, y: 0, width, height, class: "track" }), rects);
}
