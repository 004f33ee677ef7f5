// The national overview: a map coloured by each state's latest Rt beside the
// sorted dot-and-interval list, every state's Rt as small multiples (sortable,
// filterable), and the states left out of the run, each named once.
import { SHAPES, VIEW_BOX } from "us-map";
import { BLUE, NO_DATA, ORANGE, SCALE_MAX, SCALE_MIN, darkFill, rtFill, scaleGradient, side } from "./colour.js";
import { latestRows } from "./document.js";
import { $, el, fmt, fmtDate, isoToSeconds, svg } from "./dom.js";
import { REGIONS, STATES, stateInfo } from "./states.js";

export const stateHref = (code) => `#/state/${encodeURIComponent(code)}`;

const describe = (r) =>
  `${r.name}: latest Rt ${fmt(r.median)}, 80% interval ${fmt(r.lower)} to ${fmt(r.upper)}, on ${fmtDate(r.date)}`;

/** Latest rows with names and regions, highest Rt first (the list's order). */
export function overviewRows(doc) {
  return latestRows(doc)
    .map((r) => ({ ...r, ...stateInfo(r.state) }))
    .sort((a, b) => b.median - a.median || a.name.localeCompare(b.name));
}

// ------------------------------------------------------------------ summary line

export function renderHeadline(rows) {
  const above = rows.filter((r) => r.median > 1).length;
  const dates = [...new Set(rows.map((r) => r.date))].sort();
  const on = dates.length === 1 ? `on ${fmtDate(dates[0])}` : `up to ${fmtDate(dates[dates.length - 1])}`;
  $("headline").replaceChildren(
    "Latest estimates ",
    on,
    ": ",
    el("strong", { class: "above-text" }, `${above} of ${rows.length}`),
    ` state${rows.length === 1 ? " has" : "s have"} Rt above 1 (growing), `,
    el("strong", { class: "below-text" }, `${rows.length - above}`),
    " below or at 1 (shrinking).",
  );
}

// ------------------------------------------------------------------ map

export function renderMap(rows) {
  const byState = new Map(rows.map((r) => [r.state, r]));
  const shapes = [];
  const labels = [];
  for (const code of Object.keys(STATES).sort()) {
    const info = stateInfo(code);
    const shape = SHAPES[info.fips];
    const row = byState.get(code);
    const title = svg("title", { text: row ? describe(row) : `${info.name}: no estimate in this run` });
    const path = svg("path", {
      d: shape.d,
      "data-state": code,
      fill: row ? rtFill(row.median) : "url(#no-data)",
      class: row ? "has-data" : "no-data",
    });
    // Mouse and touch only: the list beside the map reaches the same pages by keyboard.
    shapes.push(row ? svg("a", { href: stateHref(code), tabindex: "-1" }, path, title) : svg("g", {}, path, title));
    if (shape.label) {
      labels.push(
        svg("text", {
          x: shape.label[0],
          y: shape.label[1],
          class: row && darkFill(row.median) ? "label light" : "label",
          text: code,
        }),
      );
    }
  }
  const map = svg(
    "svg",
    { viewBox: VIEW_BOX, class: "us-map", role: "img", "aria-labelledby": "map-title" },
    svg(
      "defs",
      {},
      svg(
        "pattern",
        { id: "no-data", width: 12, height: 12, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        svg("rect", { width: 12, height: 12, fill: "#eef1f4" }),
        svg("line", { x1: 0, y1: 0, x2: 0, y2: 12, stroke: NO_DATA, "stroke-width": 6 }),
      ),
    ),
    svg("g", { class: "shapes" }, ...shapes),
    svg("g", { class: "labels", "aria-hidden": "true" }, ...labels),
  );
  $("map").replaceChildren(map);

  const ticks = [SCALE_MIN, 0.75, 1, 1.25, SCALE_MAX].map((v) => {
    const left = ((v - SCALE_MIN) / (SCALE_MAX - SCALE_MIN)) * 100;
    const text = v === SCALE_MIN ? `≤${v}` : v === SCALE_MAX ? `≥${v}` : String(v);
    return el("span", { class: "tick", style: `left:${left}%` }, text);
  });
  const missing = Object.keys(STATES).some((code) => !byState.has(code));
  const legend = [
    el("span", { class: "legend-label" }, "Latest Rt"),
    el(
      "span",
      { class: "ramp-box" },
      el("span", { class: "ramp", style: `background:${scaleGradient()}` }),
      el("span", { class: "ticks", "aria-hidden": "true" }, ...ticks),
    ),
  ];
  if (missing) legend.push(el("span", { class: "legend-nodata" }, el("span", { class: "hatch" }), "no estimate"));
  $("map-legend").replaceChildren(...legend);
}

// ------------------------------------------------------------------ dot-and-interval list

export function renderList(rows) {
  // One shared scale for every interval bar, always showing the line at 1.
  const lo = Math.min(1, ...rows.map((r) => r.lower)) - 0.05;
  const hi = Math.max(1, ...rows.map((r) => r.upper)) + 0.05;
  const pos = (v) => `${(((v - lo) / (hi - lo)) * 100).toFixed(2)}%`;
  const items = rows.map((r) => {
    const bar = el(
      "span",
      { class: "interval", "aria-hidden": "true" },
      el("span", { class: "one", style: `left:${pos(1)}` }),
      el("span", { class: "band", style: `left:${pos(r.lower)};right:calc(100% - ${pos(r.upper)})` }),
      el("span", { class: "dot", style: `left:${pos(r.median)}` }),
    );
    const link = el(
      "a",
      {
        href: stateHref(r.state),
        class: `state ${side(r.median)}`,
        "data-state": r.state,
        "data-median": String(r.median),
        "data-lower": String(r.lower),
        "data-upper": String(r.upper),
        title: describe(r),
        "aria-label": describe(r),
      },
      el("span", { class: "code" }, r.state),
      bar,
      el("span", { class: "rt-value" }, fmt(r.median)),
      el("span", { class: "rt-interval" }, `${fmt(r.lower)}–${fmt(r.upper)}`),
    );
    return el("li", {}, link);
  });
  $("state-list").replaceChildren(...items);
}

// ------------------------------------------------------------------ small multiples

// Tile drawing units: every tile shares these and one Rt scale, so one pair of
// clip paths (above / below the line at 1) serves them all.
const TILE_W = 200;
const TILE_H = 80;

function sharedScales(doc) {
  const all = Object.values(doc.states);
  const times = all.flatMap((s) => [isoToSeconds(s.dates[0]), isoToSeconds(s.dates[s.dates.length - 1])]);
  const lows = all.flatMap((s) => s.lower_80);
  const highs = all.flatMap((s) => s.upper_80);
  // Rounded out to half units, with the line at 1 always inside; capped so that
  // one state's wide early interval does not flatten everyone else's curve.
  const yMin = Math.max(0, Math.floor(Math.min(0.9, ...lows) * 2) / 2);
  const top = Math.ceil(Math.max(1.1, ...highs) * 2) / 2;
  const yMax = Math.min(2.5, top);
  const tMin = Math.min(...times);
  const tMax = Math.max(...times);
  return {
    tMin,
    tMax,
    yMin,
    yMax,
    cut: top > yMax,
    x: (iso) => (tMax === tMin ? TILE_W / 2 : ((isoToSeconds(iso) - tMin) / (tMax - tMin)) * TILE_W),
    y: (v) => TILE_H - ((Math.min(Math.max(v, yMin), yMax) - yMin) / (yMax - yMin)) * TILE_H,
  };
}

const pointList = (xs, ys) => xs.map((x, i) => `${x.toFixed(1)},${ys[i].toFixed(1)}`).join(" ");

function tileChart(series, scale) {
  const xs = series.dates.map(scale.x);
  const band = pointList(
    [...xs, ...xs.slice().reverse()],
    [...series.upper_80.map(scale.y), ...series.lower_80.map(scale.y).reverse()],
  );
  const line = pointList(xs, series.median.map(scale.y));
  const grid = [];
  for (let v = Math.ceil(scale.yMin * 2) / 2; v <= scale.yMax; v += 0.5) {
    if (v !== 1) grid.push(svg("line", { x1: 0, x2: TILE_W, y1: scale.y(v), y2: scale.y(v), class: "grid" }));
  }
  const half = (clip, colour) =>
    svg(
      "g",
      { "clip-path": `url(#${clip})` },
      svg("polygon", { points: band, fill: colour, "fill-opacity": 0.22 }),
      svg("polyline", { points: line, stroke: colour, class: "median" }),
    );
  return svg(
    "svg",
    { viewBox: `0 0 ${TILE_W} ${TILE_H}`, preserveAspectRatio: "none", class: "spark", "aria-hidden": "true" },
    ...grid,
    half("clip-above", ORANGE),
    half("clip-below", BLUE),
    svg("line", { x1: 0, x2: TILE_W, y1: scale.y(1), y2: scale.y(1), class: "one" }),
  );
}

function clipDefs(scale) {
  const one = scale.y(1);
  return svg(
    "svg",
    { width: 0, height: 0, class: "defs", "aria-hidden": "true", focusable: "false" },
    svg(
      "defs",
      {},
      svg(
        "clipPath",
        { id: "clip-above", clipPathUnits: "userSpaceOnUse" },
        svg("rect", { x: 0, y: -1, width: TILE_W, height: one + 1 }),
      ),
      svg(
        "clipPath",
        { id: "clip-below", clipPathUnits: "userSpaceOnUse" },
        svg("rect", { x: 0, y: one, width: TILE_W, height: TILE_H - one + 1 }),
      ),
    ),
  );
}

// Census regions in the Census Bureau's order; a code outside the table (a territory) last.
const regionRank = (row) => (REGIONS.includes(row.region) ? REGIONS.indexOf(row.region) : REGIONS.length);

const SORTS = {
  rt: (a, b) => b.median - a.median || a.name.localeCompare(b.name),
  name: (a, b) => a.name.localeCompare(b.name),
  region: (a, b) => regionRank(a) - regionRank(b) || a.name.localeCompare(b.name),
};

/** Draws one tile per published state; returns the controls' state and the visible order. */
export function renderMultiples(doc, rows) {
  const scale = sharedScales(doc);
  const tiles = rows.map((r) => {
    const tile = el(
      "a",
      {
        href: stateHref(r.state),
        class: "tile",
        "data-state": r.state,
        "data-name": r.name,
        "data-region": r.region,
        "data-median": String(r.median),
        "aria-label": `${describe(r)}. Open ${r.name}'s charts.`,
      },
      el(
        "span",
        { class: "tile-head" },
        el("span", { class: "code" }, r.state),
        el("span", { class: "name" }, r.name),
        el("span", { class: `rt-value ${side(r.median)}` }, fmt(r.median)),
      ),
      tileChart(doc.states[r.state], scale),
    );
    return { ...r, tile, key: `${r.state} ${r.name}`.toLowerCase() };
  });
  const grid = $("multiples");
  const start = new Date(scale.tMin * 1000).toISOString().slice(0, 10);
  const end = new Date(scale.tMax * 1000).toISOString().slice(0, 10);
  $("multiples-scale").textContent =
    `Every tile: ${fmtDate(start)} to ${fmtDate(end)}, Rt from ${scale.yMin} to ${scale.yMax}` +
    `${scale.cut ? " (higher values cut off)" : ""}, light lines every 0.5, the dashed line at ` +
    "Rt = 1; shading is the 80% interval.";

  $("spark-defs").replaceChildren(clipDefs(scale));
  const sortBox = $("sort");
  const filterBox = $("filter");
  let visible = [];

  const update = () => {
    const order = sortBox.value in SORTS ? sortBox.value : "rt";
    const query = filterBox.value.trim().toLowerCase();
    const sorted = tiles.slice().sort(SORTS[order]);
    const nodes = [];
    visible = [];
    let region = null;
    for (const t of sorted) {
      const shown = query === "" || t.name.toLowerCase().includes(query) || t.state.toLowerCase().startsWith(query);
      t.tile.hidden = !shown;
      if (shown) visible.push(t.state);
      if (order === "region" && t.region !== region && shown) {
        region = t.region;
        nodes.push(el("h3", { class: "group" }, region));
      }
      nodes.push(t.tile);
    }
    grid.replaceChildren(...nodes);
    grid.dataset.sort = order;
    const total = tiles.length;
    $("shown-count").textContent =
      query === ""
        ? `${total} state${total === 1 ? "" : "s"}`
        : visible.length === 0
          ? `No state matches “${filterBox.value.trim()}”`
          : `${visible.length} of ${total} states match “${filterBox.value.trim()}”`;
  };
  sortBox.addEventListener("change", update);
  filterBox.addEventListener("input", update);
  filterBox.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && filterBox.value !== "") {
      filterBox.value = "";
      update();
    }
  });
  update();
  return { order: () => visible.slice() };
}

// ------------------------------------------------------------------ left out

const NOT_RUN = /^not run\b/i;

/** Each excluded state once, grouped by its reason; states simply not run in one line. */
export function renderExcluded(doc) {
  const groups = new Map();
  for (const [code, why] of Object.entries(doc.excluded || {}).sort(([a], [b]) => a.localeCompare(b))) {
    const reason = NOT_RUN.test(String(why)) ? "Not run" : String(why);
    if (!groups.has(reason)) groups.set(reason, []);
    groups.get(reason).push(code);
  }
  const box = $("excluded");
  if (groups.size === 0) {
    box.hidden = true;
    return;
  }
  // Failures first: they are news; "not run" is usually a deliberate subset.
  const reasons = [...groups.keys()].sort((a, b) => (a === "Not run") - (b === "Not run") || a.localeCompare(b));
  const items = reasons.map((reason) => {
    const codes = groups.get(reason);
    const names = codes.flatMap((code, i) => [i ? ", " : "", el("abbr", { title: stateInfo(code).name }, code)]);
    const count = codes.length > 1 ? ` (${codes.length})` : "";
    return el(
      "li",
      { "data-reason": reason, "data-states": codes.join(" ") },
      el("span", { class: "reason" }, `${reason}${count}:`),
      " ",
      ...names,
    );
  });
  const total = Object.keys(doc.excluded).length;
  $("excluded-title").textContent = `Left out of this run (${total} state${total === 1 ? "" : "s"})`;
  $("excluded-list").replaceChildren(...items);
  box.hidden = false;
}
