// The Rt page: fetches rt.msgpack from its own folder, so it works from any
// static file server (a local folder or S3 static hosting) with no backend.
// Two views on hash routes, so that each has a link and the back button works:
//   #/            national overview: map, sorted list, small multiples, states left out
//   #/state/NY    one state's charts
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { DATA_FILE, PageError, fetchDocument } from "./document.js";
import { $ } from "./dom.js";
import { overviewRows, renderExcluded, renderHeadline, renderList, renderMap, renderMultiples } from "./overview.js";
import { renderStateView } from "./stateview.js";

const STATE_ROUTE = /^#\/state\/([^/]+)$/;
// Performance marks a test (or a person in DevTools) can read back.
export const MARK_DRAWN = "rt:small-multiples-drawn";

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

function router(doc, multiples) {
  let stateView = null;
  let overviewScroll = 0;
  let cameFrom = null;

  const show = () => {
    // Links from the first version of the page (index.html#NY) still open that state.
    const legacy = /^#([A-Za-z]{2})$/.exec(location.hash);
    if (legacy) {
      history.replaceState(null, "", `#/state/${legacy[1].toUpperCase()}`);
    }
    const match = STATE_ROUTE.exec(location.hash);
    if (stateView) {
      stateView.destroy();
      stateView = null;
    }
    if (match) {
      const code = decodeURIComponent(match[1]).toUpperCase();
      if (!$("overview").hidden) overviewScroll = window.scrollY;
      const order = multiples.order();
      const at = order.indexOf(code);
      const neighbours = at < 0 ? {} : { previous: order[at - 1], next: order[at + 1] };
      $("overview").hidden = true;
      $("state-view").hidden = false;
      stateView = renderStateView(doc, code, neighbours);
      document.title = `Rt: ${$("state-title").textContent}`;
      window.scrollTo(0, 0);
      $("state-title").focus({ preventScroll: true });
      cameFrom = code;
    } else {
      const wasAway = $("overview").hidden;
      $("state-view").hidden = true;
      $("state-view").replaceChildren();
      $("overview").hidden = false;
      document.title = "Rt by state";
      if (wasAway) window.scrollTo(0, overviewScroll);
      // Back from a state: keyboard focus returns to that state's tile.
      const tile = cameFrom && document.querySelector(`#multiples .tile[data-state="${cameFrom}"]`);
      if (tile && !tile.hidden) tile.focus({ preventScroll: true });
      cameFrom = null;
    }
    document.body.dataset.view = match ? "state" : "overview";
  };

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && STATE_ROUTE.test(location.hash)) location.hash = "#/";
  });
  window.addEventListener("hashchange", show);
  let pending = false;
  window.addEventListener("resize", () => {
    if (pending || !stateView) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (stateView) stateView.resize();
    });
  });
  show();
}

async function main() {
  try {
    const doc = await fetchDocument(DATA_FILE);
    const count = Object.keys(doc.states).length;
    $("run-info").textContent =
      `Run date ${doc.run_date} · model ${doc.model_version}` +
      (doc.preset ? ` (preset ${doc.preset})` : "") +
      ` · ${count} state${count === 1 ? "" : "s"}`;
    renderExcluded(doc);
    if (count === 0) throw new PageError("empty", "This run published no state: every state was left out.");
    $("content").hidden = false;
    const rows = overviewRows(doc);
    renderHeadline(rows);
    renderMap(rows);
    renderList(rows);
    const multiples = renderMultiples(doc, rows);
    requestAnimationFrame(() => performance.mark(MARK_DRAWN));
    router(doc, multiples);
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err);
    document.body.dataset.ready = "error";
  }
}

main();
