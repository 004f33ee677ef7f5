"""National CSV, the msgpack document, the staging comparison and the approval rule."""

import msgpack
import pandas as pd
import pytest

from rt_assets import msgpack_format, publication
from rt_assets.summary import RT_CSV_COLUMNS


def rows(region: str, means: list[float], width: float = 0.1) -> pd.DataFrame:
    n = len(means)
    data = {c: [0.0] * n for c in RT_CSV_COLUMNS}
    data.update(
        date=[f"2021-03-0{i + 1}" for i in range(n)],
        region=[region] * n,
        index=list(range(n)),
        mean=means,
        median=means,
        lower_80=[m - width for m in means],
        upper_80=[m + width for m in means],
    )
    return pd.DataFrame(data)


def doc(**means) -> dict:
    table = publication.national_table({k: rows(k, v) for k, v in means.items()})
    return msgpack_format.build_document(table, "2021-03-07", "model-1", "fast", {"ZZ": "not run"})


def test_national_table_sorted_with_exact_header():
    table = publication.national_table({"NY": rows("NY", [1.0]), "CA": rows("CA", [0.9, 1.1])})
    assert list(table.columns) == RT_CSV_COLUMNS
    assert list(table["region"]) == ["CA", "CA", "NY"]


def test_document_format_and_msgpack_round_trip():
    d = doc(NY=[1.012345, 0.98], CA=[1.1, 1.2])
    msgpack_format.validate_document(d)
    assert d["format"] == "rtlive-msgpack/1"
    assert list(d["states"]) == ["CA", "NY"]
    assert d["states"]["NY"] == {
        "dates": ["2021-03-01", "2021-03-02"],
        "mean": [1.0123, 0.98],
        "median": [1.0123, 0.98],
        "lower_80": [0.9123, 0.88],
        "upper_80": [1.1123, 1.08],
        # the optional count series: whole numbers as integers
        "positive": [0, 0],
        "tests": [0, 0],
        "infections": [0, 0],
    }
    assert d["excluded"] == {"ZZ": "not run"}
    packed = msgpack.packb(d, use_bin_type=True)
    assert msgpack.unpackb(packed, raw=False) == d
    broken = dict(d, format="other")
    with pytest.raises(msgpack_format.DocumentError, match="format"):
        msgpack_format.validate_document(broken)
    assert msgpack_format.parse_document(msgpack_format.pack(d), "d.msgpack") == d


def test_no_previous_publication_no_warnings():
    assert publication.compare_with_previous(doc(NY=[1.0]), None) == []


def test_moved_more_than_threshold_warns():
    warnings = publication.compare_with_previous(doc(NY=[1.3], CA=[1.0]), doc(NY=[1.0], CA=[1.1]))
    assert [(w.region, w.kind) for w in warnings] == [("NY", "moved")]
    assert "moved +0.300" in warnings[0].message
    # a wider threshold accepts the same move
    assert publication.compare_with_previous(doc(NY=[1.3]), doc(NY=[1.0]), 0.5) == []


def test_crossing_one_with_high_confidence_warns_only_when_confident():
    # yesterday 0.95, today 1.15 with interval [1.05, 1.25]: crossed, confidently
    crossed = publication.compare_with_previous(doc(NY=[1.15]), doc(NY=[0.95]))
    assert [w.kind for w in crossed] == ["crossed_1"]
    # same move with a wide interval that still straddles 1: no warning
    wide = publication.national_table({"NY": rows("NY", [1.15], width=0.3)})
    wide_doc = msgpack_format.build_document(wide, "2021-03-07", "m", "fast")
    assert publication.compare_with_previous(wide_doc, doc(NY=[0.95])) == []


def test_states_new_today_are_not_compared():
    assert publication.compare_with_previous(doc(NY=[2.0]), doc(CA=[1.0])) == []


def test_approval_rule():
    assert "automatically" in publication.approve_promotion([], False, "2021-03-07")
    warnings = publication.compare_with_previous(doc(NY=[1.5]), doc(NY=[1.0]))
    with pytest.raises(publication.PromotionRefused) as refused:
        publication.approve_promotion(warnings, False, "2021-03-07")
    assert "refusing to publish 2021-03-07" in str(refused.value)
    assert "approve_warnings: true" in str(refused.value)
    assert "NY" in str(refused.value)
    assert "approved" in publication.approve_promotion(warnings, True, "2021-03-07")
    assert list(publication.warnings_table(warnings)["region"]) == ["NY"]
