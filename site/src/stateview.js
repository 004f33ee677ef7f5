// One state's page (#/state/NY): Rt with its 80% interval, the daily positive
// tests with the model's infections, and the daily tests, as uPlot charts whose
// cursors move together; a read-out above each chart gives the hovered day's
// values (the latest day when the pointer is elsewhere).
import uPlot from "uplot";
import { BLUE, ORANGE, side } from "./colour.js";
import { COUNT_SERIES, hasCounts } from "./document.js";
import { $, el, fmt, fmtCount, fmtDate, isoToSeconds } from "./dom.js";
import { stateHref } from "./overview.js";
import { stateInfo } from "./states.js";

const INK = "#1d2329";
const POSITIVE_BARS = "#8d99a6";
const TEST_BARS = "#b7c1cb";
const SYNC_KEY = "rt-state";
const AXIS_SIZE = 58;

// A vertical gradient that switches colour where the y scale crosses Rt = 1, so
// the curve and its band are orange above 1 and blue below, as on the overview.
function splitAtOne(u, above, below) {
  const { top, height } = u.bbox;
  const y = u.valToPos(1, "y", true);
  if (!Number.isFinite(y) || !(height > 0)) return below;
  const f = Math.min(1, Math.max(0, (y - top) / height));
  const gradient = u.ctx.createLinearGradient(0, top, 0, top + height);
  gradient.addColorStop(0, above);
  gradient.addColorStop(f, above);
  gradient.addColorStop(f, below);
  gradient.addColorStop(1, below);
  return gradient;
}

function drawRtOne(u) {
  const y = Math.round(u.valToPos(1, "y", true)) + 0.5;
  const { ctx } = u;
  const { left, width } = u.bbox;
  ctx.save();
  ctx.strokeStyle = "#4a5560";
  ctx.lineWidth = Math.max(1, devicePixelRatio);
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.beginPath();
  ctx.moveTo(left, y);
  ctx.lineTo(left + width, y);
  ctx.stroke();
  ctx.restore();
}

const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

function chartHeight(kind) {
  const phone = window.innerWidth < 600;
  return { rt: phone ? 220 : 280, counts: phone ? 170 : 210, tests: phone ? 140 : 170 }[kind];
}

function baseOptions(kind, width, readout) {
  return {
    width,
    height: chartHeight(kind),
    tzDate: utc,
    legend: { show: false },
    cursor: {
      sync: { key: SYNC_KEY },
      y: false,
      drag: { x: false, y: false },
      // Dots where the hovered day meets each line (the Rt lines' own colour is a gradient).
      points: { size: (_u, si) => (si === 1 ? 9 : 6), width: 2, stroke: () => "#fff", fill: () => INK },
    },
    scales: { x: { time: true } },
    hooks: { setCursor: [(u) => readout(u.cursor.idx)] },
  };
}

function chartBox(kind, title) {
  const readout = el("p", { class: "readout", "data-chart": kind, "aria-live": "off" });
  const plot = el("div", { class: "chart", "data-chart": kind });
  const figure = el("figure", { class: "chart-figure" }, el("h3", {}, title), readout, plot);
  return { figure, readout, plot };
}

/** Renders the view for ``code`` into #state-view; returns { resize, destroy }. */
export function renderStateView(doc, code, neighbours) {
  const info = stateInfo(code);
  const series = doc.states[code];
  const view = $("state-view");
  const nav = el(
    "nav",
    { class: "state-nav", "aria-label": "States" },
    el("a", { href: "#/", id: "back", class: "back" }, "← All states"),
    neighbours.previous
      ? el("a", { href: stateHref(neighbours.previous), class: "step", rel: "prev" }, `‹ ${neighbours.previous}`)
      : null,
    neighbours.next
      ? el("a", { href: stateHref(neighbours.next), class: "step", rel: "next" }, `${neighbours.next} ›`)
      : null,
  );
  const title = el("h2", { id: "state-title", tabindex: "-1" }, `${info.name} (${code})`);

  if (!series) {
    const why = doc.excluded && doc.excluded[code];
    view.replaceChildren(
      nav,
      title,
      el(
        "p",
        { class: "message", id: "state-missing", "data-kind": "no-state" },
        why
          ? `${info.name} is not in this run: ${why}.`
          : `This run has no Rt estimate for ${code === info.name ? `“${code}”` : info.name}.`,
      ),
    );
    view.dataset.state = code;
    return { resize() {}, destroy() {} };
  }

  const n = series.dates.length;
  const last = n - 1;
  const xs = series.dates.map(isoToSeconds);
  const latest = { median: series.median[last], lower: series.lower_80[last], upper: series.upper_80[last] };
  const summary = el(
    "p",
    { class: "state-summary" },
    `${info.region} · latest estimate, ${fmtDate(series.dates[last])}: `,
    el("strong", { class: `${side(latest.median)}-text` }, `Rt ${fmt(latest.median)}`),
    ` (80% interval ${fmt(latest.lower)}–${fmt(latest.upper)}), `,
    latest.median > 1 ? "above 1: cases are likely growing." : "at or below 1: cases are likely shrinking.",
  );

  const charts = [];
  const rt = chartBox("rt", "Rt: median with its 80% interval");
  const dayLabel = (i) => el("strong", {}, fmtDate(series.dates[i]));
  const rtReadout = (idx) => {
    const i = idx ?? last;
    rt.readout.dataset.index = String(i);
    rt.readout.dataset.date = series.dates[i];
    rt.readout.replaceChildren(
      dayLabel(i),
      idx == null ? " (latest)" : "",
      " · Rt ",
      el("span", { class: `value ${side(series.median[i])}-text`, "data-value": "median" }, fmt(series.median[i])),
      " · 80% interval ",
      el("span", { class: "value", "data-value": "interval" }, `${fmt(series.lower_80[i])}–${fmt(series.upper_80[i])}`),
    );
  };
  const blocks = [rt.figure];
  const plots = [];
  plots.push(() => {
    const opts = {
      ...baseOptions("rt", rt.plot.clientWidth, rtReadout),
      // One y-axis width on every chart keeps their days lined up under each other.
      axes: [{}, { size: AXIS_SIZE }],
      scales: {
        x: { time: true },
        y: { range: (_u, min, max) => [Math.min(min, 0.9) - 0.05, Math.max(max, 1.1) + 0.05] },
      },
      series: [
        {},
        { label: "Rt", stroke: (u) => splitAtOne(u, ORANGE, BLUE), width: 2, points: { show: false } },
        { label: "80% low", stroke: (u) => splitAtOne(u, `${ORANGE}66`, `${BLUE}66`), width: 1, points: { show: false } },
        { label: "80% high", stroke: (u) => splitAtOne(u, `${ORANGE}66`, `${BLUE}66`), width: 1, points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: (u) => splitAtOne(u, `${ORANGE}38`, `${BLUE}38`) }],
    };
    opts.hooks.draw = [drawRtOne];
    return new uPlot(opts, [xs, series.median, series.lower_80, series.upper_80], rt.plot);
  });

  if (hasCounts(series)) {
    const column = (name) => (Array.isArray(series[name]) ? series[name] : series.dates.map(() => null));
    const [positive, tests, infections] = COUNT_SERIES.map(column);
    const bars = uPlot.paths.bars({ size: [0.75, 14] });
    const counts = chartBox("counts", "Daily positive tests and the model's infections");
    const countsReadout = (idx) => {
      const i = idx ?? last;
      counts.readout.dataset.index = String(i);
      counts.readout.dataset.date = series.dates[i];
      counts.readout.replaceChildren(
        dayLabel(i),
        idx == null ? " (latest)" : "",
        " · ",
        el("span", { class: "value", "data-value": "positive" }, fmtCount(positive[i])),
        " positive tests · infections (model) ",
        el("span", { class: "value", "data-value": "infections" }, fmtCount(infections[i])),
      );
    };
    const testsBox = chartBox("tests", "Daily tests");
    const testsReadout = (idx) => {
      const i = idx ?? last;
      testsBox.readout.dataset.index = String(i);
      testsBox.readout.dataset.date = series.dates[i];
      const share = positive[i] != null && tests[i] ? ` (${((positive[i] / tests[i]) * 100).toFixed(1)}% positive)` : "";
      testsBox.readout.replaceChildren(
        dayLabel(i),
        idx == null ? " (latest)" : "",
        " · ",
        el("span", { class: "value", "data-value": "tests" }, fmtCount(tests[i])),
        ` tests${share}`,
      );
    };
    const countAxis = { size: AXIS_SIZE, values: (_u, ticks) => ticks.map((v) => fmtCount(v)) };
    blocks.push(counts.figure, testsBox.figure);
    plots.push(
      () =>
        new uPlot(
          {
            ...baseOptions("counts", counts.plot.clientWidth, countsReadout),
            scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
            axes: [{}, countAxis],
            series: [
              {},
              { label: "positive tests", stroke: POSITIVE_BARS, fill: POSITIVE_BARS, paths: bars, points: { show: false } },
              { label: "infections (model)", stroke: INK, width: 2, points: { show: false } },
            ],
          },
          [xs, positive, infections],
          counts.plot,
        ),
      () =>
        new uPlot(
          {
            ...baseOptions("tests", testsBox.plot.clientWidth, testsReadout),
            scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
            axes: [{}, countAxis],
            series: [{}, { label: "tests", stroke: TEST_BARS, fill: TEST_BARS, paths: bars, points: { show: false } }],
          },
          [xs, tests],
          testsBox.plot,
        ),
    );
  } else {
    blocks.push(el("p", { class: "note" }, "This run's data file carries no daily counts: only Rt is shown."));
  }

  const item = (swatch, text) => el("span", { class: "key" }, el("span", { class: swatch }), text);
  const key = el(
    "p",
    { class: "legend" },
    item("swatch above", "Rt above 1"),
    item("swatch below", "Rt below 1"),
    item("dash", "Rt = 1"),
    hasCounts(series) ? item("swatch bars", "positive tests, tests") : null,
    hasCounts(series) ? item("swatch line", "infections (model)") : null,
  );
  view.replaceChildren(nav, title, summary, key, ...blocks);
  view.dataset.state = code;
  // Built once the view is visible, so each chart takes its box's width.
  charts.push(...plots.map((make) => make()));
  for (const u of charts) u.hooks.setCursor[0](u); // the latest day until the pointer moves

  return {
    resize() {
      for (const u of charts) {
        const kind = u.root.parentElement.dataset.chart;
        u.setSize({ width: u.root.parentElement.clientWidth, height: chartHeight(kind) });
      }
    },
    destroy() {
      for (const u of charts) u.destroy();
      charts.length = 0;
    },
  };
}
