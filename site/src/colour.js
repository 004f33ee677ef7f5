// Colours: a diverging blue-orange scheme, blue for Rt below 1 (shrinking) and
// orange above 1 (growing). Blue against orange differs in the blue-yellow
// channel, which the common colour-vision deficiencies (protanopia and
// deuteranopia, red-green) keep, and both halves darken away from a pale
// neutral at Rt = 1, so the map also reads in greyscale. The stops are
// ColorBrewer's colour-blind-safe RdBu (blue half) and PuOr (orange half).
export const BLUE = "#2166ac";
export const ORANGE = "#b35806";
export const NO_DATA = "#c9cfd6";

// Rt -> fill, one stop per 0.1; beyond the ends the end colour holds.
const STOPS = [
  [0.5, "#053061"],
  [0.6, "#2166ac"],
  [0.7, "#4393c3"],
  [0.8, "#92c5de"],
  [0.9, "#d1e5f0"],
  [1.0, "#f7f7f7"],
  [1.1, "#fee0b6"],
  [1.2, "#fdb863"],
  [1.3, "#e08214"],
  [1.4, "#b35806"],
  [1.5, "#7f3b08"],
].map(([at, hex]) => [at, [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))]);
export const SCALE_MIN = STOPS[0][0];
export const SCALE_MAX = STOPS[STOPS.length - 1][0];

const hex = (rgb) => `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;

function rgbFor(rt) {
  if (!(rt > SCALE_MIN)) return STOPS[0][1];
  for (let i = 1; i < STOPS.length; i++) {
    const [at, rgb] = STOPS[i];
    if (rt <= at) {
      const [before, from] = STOPS[i - 1];
      const t = (rt - before) / (at - before);
      return from.map((c, k) => c + (rgb[k] - c) * t);
    }
  }
  return STOPS[STOPS.length - 1][1];
}

/** The map's fill for a latest Rt. */
export const rtFill = (rt) => hex(rgbFor(rt));

/** Whether text on that fill should be light (WCAG relative luminance below 0.25). */
export function darkFill(rt) {
  const [r, g, b] = rgbFor(rt).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.25;
}

/** A CSS linear-gradient of the scale, left (SCALE_MIN) to right (SCALE_MAX). */
export function scaleGradient() {
  const span = SCALE_MAX - SCALE_MIN;
  const stops = STOPS.map(([at, rgb]) => `${hex(rgb)} ${(((at - SCALE_MIN) / span) * 100).toFixed(0)}%`);
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

export const side = (rt) => (rt > 1 ? "above" : "below");
