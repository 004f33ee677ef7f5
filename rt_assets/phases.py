"""The daily rt run's three phases, derived from the asset graph, not listed by name.

One Dagster run has one partition key and the rt graph has two partitionings
(date x state from the snapshot to the summary; date after it), so a run date takes
three kinds of run:

1. ``counts``: the roots of the date x state assets (the snapshot, ``rt/raw_counts``)
   for the first state of the day: it fetches and keeps the date's snapshot, once,
   before the states fan out;
2. ``state``: the date x state assets (counts, inference, summary), one run per state;
3. ``publish``: the date-partitioned assets downstream of them (national CSV, staged
   and published files, the web page, and whatever is added after them).

Every asset from the snapshot to the summary is date x state partitioned so that one
backfill from the Materialize dialog can pick dates and states: the dialog offers the
partitions of the selection's roots, and a date-only root would take every state.

The phase of an asset follows from its partitions definition and its dependencies,
so an asset added to the graph joins its phase in the jobs (jobs.py), ``run_daily``
(pipeline.py), the schedule and the fan-out sensor alike. An asset the rules cannot
place (unpartitioned, or date-partitioned but not downstream of the date x state
assets) stops the definitions from loading, rather than being left out of the daily
run without a word.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from resources.dagster_private import AssetGraph
from rt_assets import assets, checks, site_assets

PHASES = ("counts", "state", "publish")

# What the daily run materializes: the location's assets and the checks that run
# with them (the freshness checks are evaluated by their sensor, not in these runs).
DAILY_ASSETS: list = [
    *dg.load_assets_from_modules([assets, site_assets]),
    *dg.load_asset_checks_from_modules([checks]),
]


@dataclass(frozen=True)
class DailyPhases:
    """Each phase's asset keys, in dependency order."""

    counts: tuple[dg.AssetKey, ...]
    state: tuple[dg.AssetKey, ...]
    publish: tuple[dg.AssetKey, ...]

    def keys(self, phase: str) -> tuple[dg.AssetKey, ...]:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}: one of {', '.join(PHASES)}")
        return getattr(self, phase)

    def selection(self, phase: str) -> dg.AssetSelection:
        """The phase's assets; their checks come with them."""
        return dg.AssetSelection.assets(*self.keys(phase))


def _is_date(pdef: dg.PartitionsDefinition | None) -> bool:
    return isinstance(pdef, dg.TimeWindowPartitionsDefinition)


def _is_date_state(pdef: dg.PartitionsDefinition | None) -> bool:
    return isinstance(pdef, dg.MultiPartitionsDefinition) and any(
        _is_date(d.partitions_def) for d in pdef.partitions_defs
    )


def _reachable(asset_graph, start: Iterable[dg.AssetKey], upward: bool) -> set[dg.AssetKey]:
    """Every materializable asset upstream (or downstream) of ``start``, ``start`` excluded."""
    seen: set[dg.AssetKey] = set()
    stack = list(start)
    while stack:
        node = asset_graph.get(stack.pop())
        for key in node.parent_keys if upward else node.child_keys:
            if key not in seen and asset_graph.has(key) and asset_graph.get(key).is_materializable:
                seen.add(key)
                stack.append(key)
    return seen


def daily_phases(asset_graph) -> DailyPhases:
    """The phases of the daily run in ``asset_graph`` (a Definitions' or a repository's)."""
    order = [
        k
        for k in asset_graph.toposorted_asset_keys
        if asset_graph.has(k) and asset_graph.get(k).is_materializable
    ]
    pdefs = {k: asset_graph.get(k).partitions_def for k in order}
    state = [k for k in order if _is_date_state(pdefs[k])]
    if not state:
        raise ValueError("the rt graph has no date x state partitioned asset: no daily run")
    downstream = _reachable(asset_graph, state, upward=False)
    roots = [k for k in state if not _reachable(asset_graph, [k], upward=True)]
    phases = DailyPhases(
        counts=tuple(roots),
        state=tuple(state),
        publish=tuple(k for k in order if k in downstream and _is_date(pdefs[k])),
    )
    placed = {*phases.counts, *phases.state, *phases.publish}
    unplaced = [k.to_user_string() for k in order if k not in placed]
    if unplaced:
        raise ValueError(
            f"the daily run has no phase for {', '.join(unplaced)}: an rt asset is either "
            "date x state partitioned or date-partitioned and downstream of the date x state "
            "assets (rt_assets/phases.py)"
        )
    return phases


def graph_of(definitions: Sequence) -> AssetGraph:
    """The asset graph of a list of assets and asset checks."""
    return AssetGraph.from_assets(definitions)


DAILY_PHASES = daily_phases(graph_of(DAILY_ASSETS))
