"""Descriptions render in the UI: Dagster shows them as Markdown, where a bare
``<date>`` is an HTML tag and disappears. Placeholders sit in code spans."""

import re

import dagster as dg
import pytest

from lake_assets.definitions import defs as lake_defs
from rt_assets.definitions import defs as rt_defs

TAG = re.compile(r"</?[A-Za-z_][A-Za-z0-9_]*>")
CODE_SPAN = re.compile(r"`[^`]*`")


def _descriptions(defs: dg.Definitions) -> dict[str, str]:
    graph = defs.resolve_asset_graph()
    out = {}
    for key in graph.get_all_asset_keys():
        out[f"asset {key.to_user_string()}"] = graph.get(key).description or ""
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        out[f"check {check_key.to_user_string()}"] = spec.description or ""
    for job in defs.resolve_all_job_defs():
        out[f"job {job.name}"] = job.description or ""
    for schedule in defs.schedules or []:
        out[f"schedule {schedule.name}"] = schedule.description or ""
    for sensor in defs.sensors or []:
        out[f"sensor {sensor.name}"] = sensor.description or ""
    return out


@pytest.mark.parametrize("defs", [rt_defs, lake_defs], ids=["rt", "lake"])
def test_no_placeholder_is_an_html_tag(defs):
    found = {}
    for what, text in _descriptions(defs).items():
        bare = TAG.findall(CODE_SPAN.sub("", text))
        if bare:
            found[what] = bare
    assert not found, f"placeholders outside `code spans` vanish in the UI: {found}"


def test_placeholders_are_still_there():
    text = rt_defs.resolve_asset_graph().get(dg.AssetKey(["rt", "summary"])).description
    assert "`<LAKE_URL>/rt/summary/<date>/<state>.parquet`" in text
