"""Re-run the rt pipeline for some dates and states from ``rt/processed_counts`` on.

rt.live had a script for the day after a data correction was fixed: "re-run
just NY and CA from processed counts on". This is that script for Dagster:

    uv run python -m rt_assets.rerun --dates 2021-03-01..2021-03-05 --states NY,CA \\
        --url http://127.0.0.1:3000 [--wait] [--from rt/raw_counts]

It asks the running webserver (GraphQL) for the asset graph, takes
``rt/processed_counts`` and everything downstream of it, and launches ONE asset
backfill (``launchPartitionBackfill``) with, per asset, the partitions those
dates and states touch:

- date x state assets (counts, inference, summary): every ``date|state`` pair;
- date-partitioned assets (national CSV, staged and published files): the dates;
- unpartitioned assets downstream (if any): once.

It is the backfill the asset graph's Materialize dialog launches for the same
selection, dates and states (docs/operations.md). The daemon runs it in dependency
order. It prints the backfill's UI link and, with ``--wait``, follows it to the end
(exit status 0 only on success).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import requests

from resources.settings import dagster_ui_url
from rt_assets import keys
from rt_assets.sources import STATES

ROOT_ASSET = keys.PROCESSED_COUNTS.to_user_string()
STATE_CODES = tuple(sorted(STATES))
TERMINAL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
SUCCESS_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS"}

ASSET_NODES_QUERY = """
query RerunAssetNodes {
  assetNodes {
    assetKey { path }
    dependedByKeys { path }
    partitionDefinition { type dimensionTypes { name type } }
  }
}
"""

LAUNCH_MUTATION = """
mutation RerunBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
    ... on PythonError { stack }
  }
}
"""

BACKFILL_QUERY = """
query RerunBackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numCancelable }
    ... on Error { message }
  }
}
"""


class RerunError(RuntimeError):
    pass


# ---------------------------------------------------------------- pure parts


def parse_dates(text: str) -> list[str]:
    """``2021-03-01``, ``2021-03-01..2021-03-05`` or a comma list of either; sorted ISO dates."""
    dates: set[dt.date] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        start_text, sep, end_text = part.partition("..")
        try:
            start = dt.date.fromisoformat(start_text.strip())
            end = dt.date.fromisoformat(end_text.strip()) if sep else start
        except ValueError as exc:
            raise RerunError(f"--dates: {part!r} is not YYYY-MM-DD[..YYYY-MM-DD]") from exc
        if end < start:
            raise RerunError(f"--dates: range {part!r} ends before it starts")
        dates.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    if not dates:
        raise RerunError("--dates: no date given")
    return [d.isoformat() for d in sorted(dates)]


def parse_states(text: str) -> list[str]:
    """``NY,CA`` (any case) or ``all``; validated against the 50 states plus DC."""
    if text.strip().lower() == "all":
        return list(STATE_CODES)
    states = sorted({s.strip().upper() for s in text.split(",") if s.strip()})
    unknown = [s for s in states if s not in STATE_CODES]
    if unknown:
        raise RerunError(f"--states: unknown state code(s) {unknown}; use two-letter codes or all")
    if not states:
        raise RerunError("--states: no state given")
    return states


@dataclass(frozen=True)
class AssetNode:
    key: str  # "rt/inference"
    downstream: tuple[str, ...]
    partition_type: str | None  # TIME_WINDOW, MULTIPARTITIONED, STATIC, DYNAMIC, None
    dimensions: tuple[str, ...]


def nodes_from_graphql(data: dict[str, Any]) -> dict[str, AssetNode]:
    nodes = {}
    for raw in data["assetNodes"]:
        key = "/".join(raw["assetKey"]["path"])
        pdef = raw.get("partitionDefinition")
        nodes[key] = AssetNode(
            key=key,
            downstream=tuple("/".join(d["path"]) for d in raw.get("dependedByKeys") or []),
            partition_type=pdef["type"] if pdef else None,
            dimensions=tuple(d["name"] for d in (pdef or {}).get("dimensionTypes") or []),
        )
    return nodes


def downstream_of(nodes: dict[str, AssetNode], root: str = ROOT_ASSET) -> list[str]:
    """``root`` and every asset downstream of it, in breadth-first order."""
    if root not in nodes:
        raise RerunError(f"asset {root} is not in the webserver's workspace")
    seen, order, queue = {root}, [], deque([root])
    while queue:
        key = queue.popleft()
        order.append(key)
        for child in nodes[key].downstream:
            if child not in seen and child in nodes:
                seen.add(child)
                queue.append(child)
    return order


def partitions_by_assets(
    nodes: dict[str, AssetNode], dates: list[str], states: list[str], root: str = ROOT_ASSET
) -> list[dict[str, Any]]:
    """The ``partitionsByAssets`` input of ``launchPartitionBackfill``."""
    selection = []
    for key in downstream_of(nodes, root):
        node = nodes[key]
        entry: dict[str, Any] = {"assetKey": {"path": key.split("/")}}
        if node.partition_type is None:
            entry["partitions"] = None
        elif node.partition_type == "MULTIPARTITIONED":
            if set(node.dimensions) != {"date", "state"}:
                raise RerunError(f"{key}: unexpected partition dimensions {node.dimensions}")
            # Dagster orders multi-partition key parts by dimension name: date|state.
            keys = [f"{d}|{s}" for d in dates for s in states]
            entry["partitions"] = {"ranges": [{"start": k, "end": k} for k in keys]}
        elif node.partition_type == "TIME_WINDOW":
            entry["partitions"] = {"ranges": [{"start": d, "end": d} for d in dates]}
        else:
            raise RerunError(f"{key}: partitions of type {node.partition_type} are not rt dates")
        selection.append(entry)
    return selection


def backfill_url(ui_url: str, backfill_id: str) -> str:
    """The backfill's page in the UI. Dagster 1.13's route is ``/runs/b/<id>`` (its only tab
    parameter is ``runs``; ``?tab=partitions`` opened an empty page)."""
    return f"{ui_url.rstrip('/')}/runs/b/{backfill_id}"


# ---------------------------------------------------------------- the client


class DagsterGraphQL:
    def __init__(self, url: str, timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = requests.post(
                f"{self.url}/graphql",
                json={"query": query, "variables": variables or {}},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise RerunError(f"no Dagster webserver at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise RerunError(f"{self.url}/graphql answered {response.status_code}")
        body = response.json()
        if body.get("errors"):
            raise RerunError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def asset_nodes(self) -> dict[str, AssetNode]:
        return nodes_from_graphql(self.query(ASSET_NODES_QUERY))

    def launch_backfill(
        self, selection: list[dict[str, Any]], title: str, tags: dict[str, str]
    ) -> str:
        params = {
            "partitionsByAssets": selection,
            "title": title,
            "description": title,
            "tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
        }
        result = self.query(LAUNCH_MUTATION, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            detail = result.get("message", "")
            if result.get("stack"):
                detail += "\n" + result["stack"][-1]
            raise RerunError(f"launchPartitionBackfill failed ({result['__typename']}): {detail}")
        return result["backfillId"]

    def backfill_status(self, backfill_id: str) -> str:
        result = self.query(BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise RerunError(f"backfill {backfill_id}: {result.get('message', result)}")
        return result["status"]

    def wait(self, backfill_id: str, timeout_s: float, poll_s: float = 2.0) -> str:
        deadline = time.monotonic() + timeout_s
        status = self.backfill_status(backfill_id)
        while status not in TERMINAL_STATUSES:
            if time.monotonic() > deadline:
                raise RerunError(f"backfill {backfill_id} still {status} after {timeout_s:.0f} s")
            time.sleep(poll_s)
            status = self.backfill_status(backfill_id)
        return status


def rerun(
    url: str,
    dates: list[str],
    states: list[str],
    tags: dict[str, str] | None = None,
    root: str = ROOT_ASSET,
) -> tuple[str, list[dict[str, Any]]]:
    """Launch the backfill; returns its id and the partitions it targets."""
    client = DagsterGraphQL(url)
    selection = partitions_by_assets(client.asset_nodes(), dates, states, root)
    span = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    title = f"re-run {','.join(states)} for {span} from {root}"
    all_tags = {"rt/rerun-dates": span, "rt/rerun-states": ",".join(states), **(tags or {})}
    return client.launch_backfill(selection, title, all_tags), selection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rt_assets.rerun",
        description="Re-run rt from rt/processed_counts on for some dates and states.",
    )
    parser.add_argument("--dates", required=True, help="YYYY-MM-DD, a range A..B, or a list")
    parser.add_argument("--states", required=True, help="comma list of state codes, or all")
    parser.add_argument(
        "--url",
        default=dagster_ui_url(),
        help="Dagster webserver URL (default DAGSTER_UI_URL, else http://127.0.0.1:3000)",
    )
    parser.add_argument(
        "--from",
        dest="root",
        default=ROOT_ASSET,
        help=f"first asset of the re-run (default {ROOT_ASSET}; rt/raw_counts: from the "
        "source snapshot on, for dates never counted)",
    )
    parser.add_argument("--tag", action="append", default=[], help="extra run tag KEY=VALUE")
    parser.add_argument("--wait", action="store_true", help="wait for the backfill to finish")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    try:
        dates, states = parse_dates(args.dates), parse_states(args.states)
        tags = {}
        for item in args.tag:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise RerunError(f"--tag {item!r}: expected KEY=VALUE")
            tags[key] = value
        backfill_id, selection = rerun(args.url, dates, states, tags, root=args.root)
        n_partitions = sum(
            len(entry["partitions"]["ranges"]) if entry["partitions"] else 1 for entry in selection
        )
        print(
            f"launched backfill {backfill_id}: {len(selection)} assets, "
            f"{n_partitions} asset partitions ({len(dates)} dates x {len(states)} states)"
        )
        print(backfill_url(args.url, backfill_id), flush=True)
        if args.wait:
            status = DagsterGraphQL(args.url).wait(backfill_id, args.timeout)
            print(f"backfill {backfill_id}: {status}")
            return 0 if status in SUCCESS_STATUSES else 1
    except RerunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
