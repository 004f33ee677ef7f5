// Small DOM helpers: elements with attributes and children, in HTML or SVG.
const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export const el = (tag, attrs = {}, ...children) => fill(document.createElement(tag), attrs, children);
export const svg = (tag, attrs = {}, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);
export const $ = (id) => document.getElementById(id);

export const fmt = (v) => v.toFixed(2);
const COUNT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
export const fmtCount = (v) => (v === null || v === undefined ? "–" : COUNT.format(v));

const DAY = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" });
/** "2020-05-14" -> "May 14, 2020" */
export const fmtDate = (iso) => DAY.format(new Date(`${iso}T00:00:00Z`));
export const isoToSeconds = (iso) => Date.parse(`${iso}T00:00:00Z`) / 1000;
