"""rt/site through dagster.materialize with the real lake IO manager on tmp_path."""

from __future__ import annotations

import dagster as dg
import pytest

from rt_assets import page
from rt_assets.msgpack_format import DocumentError
from rt_assets.partitions import date_partitions
from rt_assets.site_assets import PUBLISHED_MSGPACK, SITE, rt_site
from tests.site.conftest import materialize_site, publish
from tests.site.documents import make_document, pack

DATE = "2021-03-07"


def test_materialize_writes_the_page_next_to_the_published_files(tmp_path, site_builder):
    data = pack(make_document(run_date=DATE, states=["NY", "CA", "TX"], excluded={"WY": "r_hat"}))
    result, folder = site_builder(tmp_path, DATE, data)
    assert result.success
    assert sorted(p.name for p in folder.iterdir()) == [
        "app.css",
        "app.js",
        "index.html",
        "latest-rt.png",
        "rt.msgpack",
    ]
    assert (folder / "rt.msgpack").read_bytes() == data
    assert (folder / "latest-rt.png").read_bytes().startswith(b"\x89PNG")
    bundle = page.load_bundle()
    assert all((folder / name).read_bytes() == bundle[name] for name in page.BUNDLE_FILES)
    # atomic writes leave no temporary files behind
    assert not [p for p in tmp_path.rglob(".*.tmp")]
    metadata = result.asset_materializations_for_node("rt__site")[0].metadata
    assert metadata["states"].value == 3
    assert metadata["excluded"].value == 1
    assert metadata["run_date"].value == DATE
    assert metadata["model_version"].value == "rtlive-generative-test"
    assert metadata["index_html"].value == str(folder / "index.html")
    assert "| NY |" in metadata["latest_rt"].value
    # The chart is linked, not embedded: the event stays small.
    assert metadata["plot"].value == str(folder / "latest-rt.png")


def test_missing_upstream_fails_naming_the_file_and_writes_nothing(tmp_path):
    result = materialize_site(tmp_path, DATE, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "published_msgpack/2021-03-07.msgpack not found" in failure.message
    assert not (tmp_path / "rt" / "site").exists()


def test_corrupted_upstream_fails_and_writes_nothing(tmp_path):
    publish(tmp_path, DATE, pack(make_document(run_date=DATE))[:500])
    with pytest.raises(DocumentError, match=r"2021-03-07\.msgpack: not a valid MessagePack"):
        materialize_site(tmp_path, DATE)
    assert not (tmp_path / "rt" / "site").exists()


def test_missing_bundle_fails_with_build_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv(page.DIST_ENV, str(tmp_path / "no-dist"))
    publish(tmp_path, DATE, pack(make_document(run_date=DATE, states=["NY"])))
    with pytest.raises(page.SiteError, match="make setup"):
        materialize_site(tmp_path, DATE)
    assert not (tmp_path / "rt" / "site").exists()


def test_definition_depends_on_the_published_msgpack_per_date():
    assert rt_site.key == dg.AssetKey(["rt", "site"])
    assert rt_site.partitions_def == date_partitions
    assert set(rt_site.asset_deps[SITE]) == {PUBLISHED_MSGPACK}
    spec = rt_site.specs_by_key[SITE]
    assert spec.owners == ["team:rt"] and spec.description and spec.code_version
    assert rt_site.op.tags["rt-lake/step-kind"] == "light"


def test_rt_code_location_carries_the_site():
    from rt_assets.definitions import defs

    carried = defs.resolve_assets_def(dg.AssetKey(["rt", "site"]))
    assert carried.op.name == rt_site.op.name == "rt__site"
    assert carried.partitions_def == date_partitions
