// The Rt page: fetches rt.msgpack from its own folder, so it works from any
// static file server (a local folder or S3 static hosting) with no backend.
import { decode } from "@msgpack/msgpack";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

export const DATA_FILE = "rt.msgpack";
export const FORMAT = "rtlive-msgpack/1";
const SERIES = ["mean", "median", "lower_80", "upper_80"];
const COLOURS = { above: "#c0392b", below: "#1e8449" };

class PageError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function fetchDocument(url) {
  let response;
  try {
    response = await fetch(url, { cache: "no-cache" });
  } catch (err) {
    throw new PageError(
      "missing",
      `Could not load ${url} (${err.message}). Opened from disk? Browsers refuse to read files ` +
        "next to a local page; serve the folder instead: uv run python -m rt_assets.serve_site",
    );
  }
  if (!response.ok) {
    throw new PageError(
      "missing",
      `The Rt data file ${url} is missing: the server answered ${response.status} ` +
        `${response.statusText}. Publish this run's Rt (materialize rt/site) and reload.`,
    );
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length === 0) {
    throw new PageError("corrupted", `The Rt data file ${url} is empty.`);
  }
  let doc;
  try {
    doc = decode(bytes);
  } catch (err) {
    throw new PageError(
      "corrupted",
      `The Rt data file ${url} is corrupted: it is not valid MessagePack (${err.message}).`,
    );
  }
  return validate(doc, url);
}

// Checks the document against the published format, naming the first fault,
// so that a bad file gives a message rather than a half-drawn page.
export function validate(doc, url = DATA_FILE) {
  const bad = (what) =>
    new PageError("corrupted", `The Rt data file ${url} is not a valid ${FORMAT} document: ${what}.`);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw bad("it is not a map");
  if (doc.format !== FORMAT) throw bad(`its format is ${JSON.stringify(doc.format)}`);
  if (typeof doc.states !== "object" || doc.states === null) throw bad("it has no states map");
  for (const [state, series] of Object.entries(doc.states)) {
    const dates = series && series.dates;
    if (!Array.isArray(dates) || dates.length === 0) throw bad(`state ${state} has no dates`);
    for (const name of SERIES) {
      const values = series[name];
      if (!Array.isArray(values) || values.length !== dates.length) {
        throw bad(`state ${state}: ${name} must be a list as long as its ${dates.length} dates`);
      }
      if (!values.every((v) => typeof v === "number" && Number.isFinite(v))) {
        throw bad(`state ${state}: ${name} holds a value that is not a finite number`);
      }
    }
  }
  return doc;
}

function latest(doc) {
  return Object.entries(doc.states)
    .map(([state, s]) => {
      const i = s.dates.length - 1;
      return {
        state,
        date: s.dates[i],
        median: s.median[i],
        lower: s.lower_80[i],
        upper: s.upper_80[i],
      };
    })
    .sort((a, b) => b.median - a.median || a.state.localeCompare(b.state));
}

const fmt = (v) => v.toFixed(2);
const side = (median) => (median > 1 ? "above" : "below");

function renderList(doc, onSelect) {
  const rows = latest(doc);
  // One shared scale for every interval bar, always showing the line at 1.
  const lo = Math.min(1, ...rows.map((r) => r.lower)) - 0.05;
  const hi = Math.max(1, ...rows.map((r) => r.upper)) + 0.05;
  const pos = (v) => `${(((v - lo) / (hi - lo)) * 100).toFixed(2)}%`;
  const list = $("state-list");
  list.replaceChildren();
  for (const r of rows) {
    const bar = el(
      "span",
      { class: "interval", "aria-hidden": "true" },
      el("span", { class: "one", style: `left:${pos(1)}` }),
      el("span", { class: "band", style: `left:${pos(r.lower)};right:calc(100% - ${pos(r.upper)})` }),
      el("span", { class: "dot", style: `left:${pos(r.median)}` }),
    );
    const button = el(
      "button",
      {
        type: "button",
        class: `state ${side(r.median)}`,
        "data-state": r.state,
        "data-median": String(r.median),
        "data-lower": String(r.lower),
        "data-upper": String(r.upper),
        title: `${r.state} on ${r.date}: Rt ${fmt(r.median)}, 80% interval ${fmt(r.lower)} to ${fmt(r.upper)}`,
      },
      el("span", { class: "code" }, r.state),
      bar,
      el("span", { class: "rt-value" }, fmt(r.median)),
      el("span", { class: "rt-interval" }, `${fmt(r.lower)}–${fmt(r.upper)}`),
    );
    button.addEventListener("click", () => onSelect(r.state));
    list.append(el("li", {}, button));
  }
  const excluded = Object.entries(doc.excluded || {});
  if (excluded.length > 0) {
    const box = $("excluded");
    box.textContent = `Left out of this run: ${excluded.map(([s, why]) => `${s} (${why})`).join("; ")}.`;
    box.hidden = false;
  }
}

let chart = null;

function renderChart(doc, state) {
  const s = doc.states[state];
  const colour = COLOURS[side(s.median[s.median.length - 1])];
  const xs = s.dates.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const box = $("chart");
  const title = $("chart-title");
  title.textContent = `${state}: Rt over time, median with its 80% interval`;
  if (chart) chart.destroy();
  box.replaceChildren();
  const opts = {
    width: Math.max(box.clientWidth, 320),
    height: 340,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true } },
    axes: [{}, { label: "Rt" }],
    series: [
      { label: "date" },
      { label: "median", stroke: colour, width: 2, value: (_u, v) => (v == null ? "–" : fmt(v)) },
      { label: "lower 80%", stroke: `${colour}55`, width: 1, value: (_u, v) => (v == null ? "–" : fmt(v)) },
      { label: "upper 80%", stroke: `${colour}55`, width: 1, value: (_u, v) => (v == null ? "–" : fmt(v)) },
      { label: "Rt = 1", stroke: "#555", width: 1, dash: [6, 4], points: { show: false } },
    ],
    bands: [{ series: [3, 2], fill: `${colour}33` }],
  };
  const data = [xs, s.median, s.lower_80, s.upper_80, xs.map(() => 1)];
  chart = new uPlot(opts, data, box);
  box.dataset.state = state;
  for (const b of document.querySelectorAll("button.state")) {
    b.setAttribute("aria-pressed", String(b.dataset.state === state));
  }
}

function showError(err) {
  const kind = err instanceof PageError ? err.kind : "error";
  const box = $("message");
  box.dataset.kind = kind;
  box.textContent =
    err instanceof PageError ? err.message : `The page could not show the Rt data: ${err.message}`;
  box.hidden = false;
  $("content").hidden = true;
  $("run-info").textContent = "No Rt data to show.";
}

async function main() {
  try {
    const doc = await fetchDocument(DATA_FILE);
    const count = Object.keys(doc.states).length;
    $("run-info").textContent =
      `Run date ${doc.run_date} · model ${doc.model_version}` +
      (doc.preset ? ` (preset ${doc.preset})` : "") +
      ` · ${count} state${count === 1 ? "" : "s"}`;
    if (count === 0) throw new PageError("empty", "This run published no state: every state was left out.");
    const select = (state) => {
      renderChart(doc, state);
      history.replaceState(null, "", `#${state}`);
    };
    $("content").hidden = false;
    renderList(doc, select);
    // A link such as index.html#NY opens (or, followed later, switches to) that state.
    const fromHash = () => {
      const wanted = decodeURIComponent(location.hash.slice(1));
      if (Object.hasOwn(doc.states, wanted)) renderChart(doc, wanted);
    };
    fromHash();
    window.addEventListener("hashchange", fromHash);
    window.addEventListener("resize", () => {
      if (chart) chart.setSize({ width: Math.max($("chart").clientWidth, 320), height: 340 });
    });
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err);
    document.body.dataset.ready = "error";
  }
}

main();
