"""The page's reader accepts what the pipeline's writer builds (rtlive-msgpack/1)."""

from __future__ import annotations

import pandas as pd

from rt_assets import publication, site
from tests.site.documents import make_document, pack


def test_site_reads_the_document_the_pipeline_builds():
    made = make_document(states=["NY", "VT"], days=20)
    rows = [
        {"region": state, "date": pd.Timestamp(date), **{k: s[k][i] for k in site.SERIES}}
        for state, s in made["states"].items()
        for i, date in enumerate(s["dates"])
    ]
    national = pd.DataFrame(rows)
    doc = publication.build_document(
        national, "2021-03-07", "model-x", "fast", excluded={"WY": "diverged"}
    )
    publication.validate_document(doc)
    parsed = site.parse_document(pack(doc), "published.msgpack")
    assert parsed["states"] == made["states"]
    latest = {r.state: r.median for r in site.latest_rt(parsed)}
    assert latest == {s: made["states"][s]["median"][-1] for s in ("NY", "VT")}
    assert parsed["excluded"] == {"WY": "diverged"}
