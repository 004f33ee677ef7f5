"""The `python -m rt_assets.serve_site` command, run for real on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from rt_assets import serve_site
from tests.site.documents import make_document, pack

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_built_dates_lists_only_complete_sites(tmp_path):
    root = tmp_path / "rt" / "site"
    for date, files in {"2021-03-06": ["index.html"], "2021-03-07": ["app.js"]}.items():
        (root / date).mkdir(parents=True)
        for name in files:
            (root / date / name).write_text("x")
    (root / "notes").mkdir()
    assert serve_site.built_dates(serve_site.site_root(str(tmp_path))) == ["2021-03-06"]


def test_nothing_built_says_what_to_run(tmp_path, capsys):
    assert serve_site.main(["--lake", str(tmp_path), "--port", "0"]) == 1
    assert "materialize rt/site first" in capsys.readouterr().err


def test_unknown_date_lists_the_built_ones(tmp_path, capsys):
    (tmp_path / "rt" / "site" / "2021-03-06").mkdir(parents=True)
    (tmp_path / "rt" / "site" / "2021-03-06" / "index.html").write_text("x")
    assert serve_site.main(["--lake", str(tmp_path), "--date", "2021-03-09"]) == 1
    assert "built dates: 2021-03-06" in capsys.readouterr().err


def test_command_serves_the_latest_built_page(tmp_path, site_builder):
    data = pack(make_document(run_date="2021-03-07", states=["NY", "CA"]))
    site_builder(tmp_path, "2021-03-07", data)
    env = {**os.environ, "LAKE_URL": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_assets.serve_site", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "Serving the Rt page for 2021-03-07" in first, first + proc.stderr.read()
        url = proc.stdout.readline().split()[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        with urllib.request.urlopen(url + "rt.msgpack", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "application/msgpack"
            assert resp.read() == data
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/html")
            assert b'<script src="app.js">' in resp.read()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
