"""The page's reader accepts what the pipeline's writer builds (rtlive-msgpack/1)."""

from __future__ import annotations

import math

import pandas as pd

from rt_assets import msgpack_format, page
from rt_assets.msgpack_format import COUNT_SERIES, RT_SERIES
from tests.site.documents import make_document, pack

COLUMNS = (*RT_SERIES, *COUNT_SERIES)


def _national(made: dict, columns=COLUMNS) -> pd.DataFrame:
    rows = [
        {
            "region": state,
            "date": pd.Timestamp(date),
            **{k: math.nan if s[k][i] is None else s[k][i] for k in columns},
        }
        for state, s in made["states"].items()
        for i, date in enumerate(s["dates"])
    ]
    return pd.DataFrame(rows)


def test_site_reads_the_document_the_pipeline_builds():
    made = make_document(states=["NY", "VT"], days=20)
    doc = msgpack_format.build_document(
        _national(made), "2021-03-07", "model-x", "fast", excluded={"WY": "diverged"}
    )
    msgpack_format.validate_document(doc)
    parsed = msgpack_format.parse_document(pack(doc), "published.msgpack")
    # the counts come through too: whole numbers as integers, a day without one as nil
    assert parsed["states"] == made["states"]
    assert parsed["states"]["NY"]["positive"][10] is None
    assert isinstance(parsed["states"]["NY"]["tests"][0], int)
    latest = {r.state: r.median for r in page.latest_rt(parsed)}
    assert latest == {s: made["states"][s]["median"][-1] for s in ("NY", "VT")}
    assert parsed["excluded"] == {"WY": "diverged"}


def test_a_table_without_counts_builds_the_rt_only_document():
    made = make_document(states=["NY"], days=5, counts=False)
    doc = msgpack_format.build_document(_national(made, RT_SERIES), "2021-03-07", "m", "fast")
    assert set(doc["states"]["NY"]) == {"dates", *RT_SERIES}
    assert msgpack_format.parse_document(pack(doc), "published.msgpack")["states"] == made["states"]
