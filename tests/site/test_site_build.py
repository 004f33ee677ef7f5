"""Pure tests of rt_assets/page.py: bundle, document checks, file set, writing."""

from __future__ import annotations

import math

import pytest
from upath import UPath

from rt_assets import msgpack_format, page
from tests.site.documents import make_document, pack


def _bundle_dir(tmp_path, names=page.BUNDLE_FILES):
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in names:
        (dist / name).write_bytes(f"<{name}>".encode())
    return dist


def test_load_bundle_reads_the_three_built_files(tmp_path):
    bundle = page.load_bundle(_bundle_dir(tmp_path))
    assert bundle == {name: f"<{name}>".encode() for name in page.BUNDLE_FILES}


def test_missing_bundle_says_how_to_build_it(tmp_path):
    dist = _bundle_dir(tmp_path, names=("index.html",))
    with pytest.raises(page.SiteError) as err:
        page.load_bundle(dist)
    assert "app.js" in str(err.value) and "app.css" in str(err.value)
    assert "make setup" in str(err.value) and str(dist) in str(err.value)


def test_dist_dir_defaults_to_the_checkout_and_honours_the_env(tmp_path, monkeypatch):
    monkeypatch.delenv(page.DIST_ENV, raising=False)
    assert page.dist_dir().parts[-2:] == ("site", "dist")
    monkeypatch.setenv(page.DIST_ENV, str(tmp_path))
    assert page.dist_dir() == tmp_path


def test_checked_in_page_and_python_agree_on_file_and_format():
    bundle = page.load_bundle()
    index = bundle["index.html"].decode()
    assert 'src="app.js"' in index and 'href="app.css"' in index
    script = bundle["app.js"].decode()
    assert f'"{page.DATA_FILE}"' in script and f'"{msgpack_format.DOCUMENT_FORMAT}"' in script
    # the MessagePack decoder and uPlot are bundled in, not fetched from elsewhere
    assert "http://" not in index and "https://" not in index
    assert "uplot" in bundle["app.css"].decode().lower()


def test_parse_document_accepts_the_published_format():
    doc = make_document(states=["NY", "CA"], days=5, excluded={"XX": "r_hat 1.3"})
    parsed = msgpack_format.parse_document(pack(doc), "rt.msgpack")
    assert parsed == doc


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: b"\xc1 not msgpack", "not a valid MessagePack"),
        (lambda d: pack([1, 2, 3]), "expected a map"),
        (lambda d: pack({**d, "format": "rtlive-msgpack/0"}), "rtlive-msgpack/0"),
        (lambda d: pack({k: v for k, v in d.items() if k != "model_version"}), "model_version"),
        (lambda d: pack({**d, "states": []}), "'states'"),
        (
            lambda d: pack({**d, "states": {"NY": {**d["states"]["NY"], "upper_80": [1.0]}}}),
            "state 'NY' field 'upper_80'",
        ),
        (
            lambda d: pack(
                {**d, "states": {"NY": {**d["states"]["NY"], "median": [math.nan] * 4 + [1.0]}}}
            ),
            "positions [0, 1, 2, 3]",
        ),
        (lambda d: pack({**d, "states": {"NY": {**d["states"]["NY"], "dates": []}}}), "no dates"),
    ],
)
def test_parse_document_names_the_fault(mutate, expected):
    doc = make_document(states=["NY"], days=5)
    with pytest.raises(msgpack_format.DocumentError) as err:
        msgpack_format.parse_document(
            mutate(doc), "s3://bucket/rt/published_msgpack/2021-03-07.msgpack"
        )
    assert expected in str(err.value)
    assert "2021-03-07.msgpack" in str(err.value)


def test_truncated_document_is_rejected():
    data = pack(make_document(states=["NY", "CA"], days=30))
    with pytest.raises(msgpack_format.DocumentError, match="not a valid MessagePack"):
        msgpack_format.parse_document(data[: len(data) // 2], "rt.msgpack")


def test_latest_rt_is_each_states_last_value_highest_first():
    doc = make_document(states=["NY", "CA", "TX"], days=3)
    doc["states"]["NY"]["median"][-1] = 1.3
    doc["states"]["CA"]["median"][-1] = 0.7
    doc["states"]["TX"]["median"][-1] = 1.3
    rows = page.latest_rt(doc)
    assert [r.state for r in rows] == ["NY", "TX", "CA"]
    assert rows[0].date == doc["states"]["NY"]["dates"][-1] == "2021-03-06"
    assert rows[0].upper_80 == doc["states"]["NY"]["upper_80"][-1]


def test_site_files_copy_the_document_and_write_the_page_last():
    bundle = {name: name.encode() for name in page.BUNDLE_FILES}
    data = pack(make_document(states=["NY"], days=2))
    files = page.site_files(bundle, data)
    assert list(files)[-1] == "index.html"
    assert set(files) == {*page.BUNDLE_FILES, page.DATA_FILE}
    assert files[page.DATA_FILE] is data


def test_write_site_writes_each_file_with_its_content_type(tmp_path):
    calls = []

    def write(path, data, content_type):
        calls.append((path.name, content_type))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    files = page.site_files({n: n.encode() for n in page.BUNDLE_FILES}, b"\x80")
    written = page.write_site(UPath(tmp_path) / "2021-03-07", files, write)
    assert calls == [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("rt.msgpack", "application/msgpack"),
        ("index.html", "text/html; charset=utf-8"),
    ]
    assert (tmp_path / "2021-03-07" / "rt.msgpack").read_bytes() == b"\x80"
    assert written["index.html"].read_bytes() == b"index.html"


def test_markdown_preview_and_plot():
    rows = page.latest_rt(make_document(days=10))
    table = page.markdown_preview(rows, limit=5)
    assert len(table.splitlines()) == 2 + 10 + 1  # header, rule, 10 rows and the "more" row
    assert f"… {len(rows) - 10} more" in table
    assert f"| {rows[0].state} |" in table and f"| {rows[-1].state} |" in table
    plot = page.latest_rt_plot_png(rows)
    assert plot.startswith(b"\x89PNG\r\n\x1a\n")
