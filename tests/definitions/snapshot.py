"""A plain-data picture of both code locations: what a restructuring must leave unchanged.

`python -m tests.definitions.snapshot` rewrites `snapshot.json` beside this file; only do
that for an intended change of the definitions, and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).with_name("snapshot.json")
LOCATIONS = {"rt": "rt_assets.definitions", "lake": "lake_assets.definitions"}


def _partitions(pdef: dg.PartitionsDefinition | None) -> object:
    if pdef is None:
        return None
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        return {"multi": {d.name: _partitions(d.partitions_def) for d in pdef.partitions_defs}}
    keys = pdef.get_partition_keys()
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition) and pdef.end is None:
        # Open-ended partitions grow with the clock: their shape, not today's count.
        return {
            "type": type(pdef).__name__,
            "first": keys[0] if keys else None,
            "end": "open",
            "end_offset": pdef.end_offset,
            "cron": pdef.cron_schedule,
            "timezone": pdef.timezone,
            "fmt": pdef.fmt,
        }
    described: dict[str, object] = {
        "type": type(pdef).__name__,
        "count": len(keys),
        "first": keys[0] if keys else None,
        "last": keys[-1] if keys else None,
    }
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        described["cron"] = pdef.cron_schedule
        described["timezone"] = pdef.timezone
        described["fmt"] = pdef.fmt
    return described


def _asset(graph, key: dg.AssetKey) -> dict[str, object]:
    node = graph.get(key)
    return {
        "deps": sorted(p.to_user_string() for p in node.parent_keys),
        "group": node.group_name,
        "partitions": _partitions(node.partitions_def),
        "tags": dict(sorted(node.tags.items())),
        "op_tags": dict(sorted(node.assets_def.op.tags.items())),
        "code_version": node.code_version,
        "owners": list(node.owners),
        "kinds": sorted(node.kinds),
        "checks": sorted(c.name for c in node.check_keys),
        "automation": repr(node.automation_condition) if node.automation_condition else None,
    }


def _job(job: dg.JobDefinition) -> dict[str, object]:
    return {
        "tags": dict(sorted((job.tags or {}).items())),
        "ops": sorted(n.name for n in job.graph.node_defs),
        "partitioned": job.partitions_def is not None,
    }


def location(module_name: str) -> dict[str, object]:
    module = __import__(module_name, fromlist=["defs"])
    defs: dg.Definitions = module.defs
    graph = defs.resolve_asset_graph()
    jobs = {j.name: _job(j) for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
    return {
        "assets": {
            k.to_user_string(): _asset(graph, k) for k in sorted(graph.get_all_asset_keys())
        },
        "jobs": dict(sorted(jobs.items())),
        "schedules": {
            s.name: {
                "cron": s.cron_schedule,
                "timezone": s.execution_timezone,
                "default_status": s.default_status.value,
                "job": s.job_name,
            }
            for s in sorted(defs.schedules or [], key=lambda s: s.name)
        },
        "sensors": {
            s.name: {
                "type": type(s).__name__,
                "default_status": s.default_status.value,
                "interval_s": s.minimum_interval_seconds,
            }
            for s in sorted(defs.sensors or [], key=lambda s: s.name)
        },
        "resources": sorted((defs.resources or {}).keys()),
    }


def snapshot() -> dict[str, object]:
    return {name: location(module) for name, module in LOCATIONS.items()}


def render() -> str:
    return json.dumps(snapshot(), indent=1, sort_keys=True, default=str) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--print"]:
        sys.stdout.write(render())
    else:
        SNAPSHOT.write_text(render())
        print(f"wrote {SNAPSHOT}", file=sys.stderr)
