// Reading rt.msgpack: fetch, decode and check against rtlive-msgpack/1, naming
// the first fault, so that a bad file gives a message rather than a half-drawn page.
import { decode } from "@msgpack/msgpack";

export const DATA_FILE = "rt.msgpack";
export const FORMAT = "rtlive-msgpack/1";
const SERIES = ["mean", "median", "lower_80", "upper_80"];
// Optional per-state series (documents from before they were added lack them):
// the daily positive tests and tests the model saw, and its infections; nil on
// a day without a value.
export const COUNT_SERIES = ["positive", "tests", "infections"];

export class PageError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

export async function fetchDocument(url) {
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

const finite = (v) => typeof v === "number" && Number.isFinite(v);

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
      if (!values.every(finite)) throw bad(`state ${state}: ${name} holds a value that is not a finite number`);
    }
    for (const name of COUNT_SERIES) {
      const values = series[name];
      if (values === undefined) continue;
      if (!Array.isArray(values) || values.length !== dates.length) {
        throw bad(`state ${state}: ${name} must be a list as long as its ${dates.length} dates`);
      }
      if (!values.every((v) => v === null || finite(v))) {
        throw bad(`state ${state}: ${name} holds a value that is neither a finite number nor nil`);
      }
    }
  }
  if (doc.excluded !== undefined && (doc.excluded === null || typeof doc.excluded !== "object")) {
    throw bad("its excluded field is not a map");
  }
  return doc;
}

/** Each published state's last day: { state, date, median, lower, upper }. */
export function latestRows(doc) {
  return Object.entries(doc.states).map(([state, s]) => {
    const i = s.dates.length - 1;
    return { state, date: s.dates[i], median: s.median[i], lower: s.lower_80[i], upper: s.upper_80[i] };
  });
}

export const hasCounts = (series) => COUNT_SERIES.some((name) => Array.isArray(series[name]));
