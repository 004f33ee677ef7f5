"""rt/site against a real S3 server (SeaweedFS on 127.0.0.1), as on S3 static hosting."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import dagster as dg
import pytest

from resources.io_manager import LakeIOManager
from rt_assets.site_assets import PUBLISHED_MSGPACK, rt_site
from tests.site.documents import make_document, pack
from tests.site.test_serve_site import REPO_ROOT

pytestmark = pytest.mark.services

DATE = "2021-03-07"


def test_site_in_s3_has_content_types_and_serves(s3_env):
    data = pack(make_document(run_date=DATE, states=["NY", "CA", "TX"]))
    store = LakeIOManager().store()
    store.write_bytes(store.path(PUBLISHED_MSGPACK, DATE, "msgpack"), data)
    result = dg.materialize(
        [rt_site], partition_key=DATE, resources={"io_manager": LakeIOManager()}
    )
    assert result.success

    prefix = f"{s3_env.prefix}/rt/site/{DATE}/"
    client = s3_env.client()
    expected = {
        "index.html": "text/html; charset=utf-8",
        "app.js": "text/javascript; charset=utf-8",
        "app.css": "text/css; charset=utf-8",
        "rt.msgpack": "application/msgpack",
        "latest-rt.png": "image/png",
    }
    stored = s3_env.keys()
    assert sorted(k for k in stored if k.startswith(prefix)) == sorted(prefix + n for n in expected)
    for name, content_type in expected.items():
        head = client.head_object(Bucket=s3_env.bucket, Key=prefix + name)
        assert head["ContentType"] == content_type, name
    assert s3_env.get(prefix + "rt.msgpack") == data

    # serve_site copies an object-store site locally and serves it unchanged
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_assets.serve_site", "--port", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert f"for {DATE} from s3://{s3_env.bucket}/" in first, first + proc.stderr.read()
        url = proc.stdout.readline().split()[1]
        with urllib.request.urlopen(url + "rt.msgpack", timeout=10) as resp:
            assert resp.read() == data
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
