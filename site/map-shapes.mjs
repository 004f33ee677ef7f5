// Turns us-atlas's pre-projected state shapes (TopoJSON, Albers USA, 975 x 610)
// into compact SVG path strings at build time, so the page ships only the paths
// it draws (about 40 kB, 13 kB gzipped) and needs neither TopoJSON nor a map
// projection in the browser.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { feature } from "topojson-client";

const require = createRequire(import.meta.url);
const ATLAS_FILE = require.resolve("us-atlas/states-albers-10m.json");
const ATLAS_VERSION = JSON.parse(readFileSync(require.resolve("us-atlas/package.json"), "utf8")).version;

// Path units per atlas pixel: half-pixel precision keeps Rhode Island and DC
// recognisable and whole-number coordinates keep the paths short.
const SCALE = 2;
const WIDTH = 975;
const HEIGHT = 610;
// States whose largest piece is smaller than this (in atlas square pixels) get
// no label on the map: their code would not fit inside them.
const MIN_LABEL_AREA = 1200;

function ringPath(ring) {
  let out = "";
  let previous = null;
  let count = 0;
  for (const [x, y] of ring) {
    const point = [Math.round(x * SCALE), Math.round(y * SCALE)];
    if (previous === null) {
      out += `M${point[0]} ${point[1]}l`;
    } else {
      const dx = point[0] - previous[0];
      const dy = point[1] - previous[1];
      if (dx === 0 && dy === 0) continue;
      // Relative moves; a minus sign separates numbers as well as a space does.
      out += (count > 1 && dx >= 0 ? " " : "") + dx + (dy >= 0 ? " " : "") + dy;
    }
    previous = point;
    count++;
  }
  return `${out}z`;
}

// Signed area and centroid of a ring (shoelace formula).
function ringCentroid(ring) {
  let area = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < ring.length - 1; i++) {
    const [x0, y0] = ring[i];
    const [x1, y1] = ring[i + 1];
    const cross = x0 * y1 - x1 * y0;
    area += cross;
    cx += (x0 + x1) * cross;
    cy += (y0 + y1) * cross;
  }
  area /= 2;
  return { area: Math.abs(area), x: cx / (6 * area), y: cy / (6 * area) };
}

/** { fips: { name, d, label: [x, y] | null } } in path units, plus the view box. */
export function stateShapes() {
  const topology = JSON.parse(readFileSync(ATLAS_FILE, "utf8"));
  const shapes = {};
  for (const state of feature(topology, topology.objects.states).features) {
    const polygons = state.geometry.type === "Polygon" ? [state.geometry.coordinates] : state.geometry.coordinates;
    const d = polygons.flatMap((polygon) => polygon.map(ringPath)).join("");
    const largest = polygons.map((polygon) => ringCentroid(polygon[0])).sort((a, b) => b.area - a.area)[0];
    const label =
      largest.area >= MIN_LABEL_AREA ? [Math.round(largest.x * SCALE), Math.round(largest.y * SCALE)] : null;
    shapes[state.id] = { name: state.properties.name, d, label };
  }
  return { viewBox: `0 0 ${WIDTH * SCALE} ${HEIGHT * SCALE}`, scale: SCALE, shapes };
}

/** The shapes as an ES module, with the atlas's licence kept in the bundle. */
export function stateShapesModule() {
  const map = stateShapes();
  const sorted = Object.fromEntries(Object.keys(map.shapes).sort().map((id) => [id, map.shapes[id]]));
  return (
    `/*! State shapes: us-atlas ${ATLAS_VERSION} (states-albers-10m), Copyright 2013-2019 Michael Bostock, ` +
    "ISC licence; derived from the US Census Bureau's 2017 cartographic boundary files (public domain). */\n" +
    `export const VIEW_BOX = ${JSON.stringify(map.viewBox)};\n` +
    `export const SCALE = ${map.scale};\n` +
    `export const SHAPES = ${JSON.stringify(sorted)};\n`
  );
}
