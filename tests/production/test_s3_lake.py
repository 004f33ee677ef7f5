"""The lake on a real S3 server (SeaweedFS): IO manager round trips and atomic writes.

Everything goes through ``LAKE_URL=s3://bucket/prefix`` and ``AWS_ENDPOINT_URL``
exactly as in production; the test reads back with boto3, not with the code
under test.
"""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from upath import UPath

from resources.io_manager import LakeIOManager, lake_format
from resources.lake_store import LakeStore

pytestmark = pytest.mark.services

dates = dg.DailyPartitionsDefinition(start_date="2021-01-01", end_date="2021-01-05")
states = dg.StaticPartitionsDefinition(["CA", "NY"])
date_state = dg.MultiPartitionsDefinition({"date": dates, "state": states})


@dg.asset(key_prefix="t", partitions_def=date_state, metadata=lake_format("parquet"))
def counts(context: dg.AssetExecutionContext) -> pd.DataFrame:
    keys = context.partition_key.keys_by_dimension
    return pd.DataFrame({"region": [keys["state"]], "date": [keys["date"]], "positive": [3.0]})


@dg.asset(key_prefix="t", partitions_def=date_state, metadata=lake_format("msgpack"))
def doc(counts: pd.DataFrame) -> dict:
    return {"region": counts["region"].iloc[0], "rows": len(counts)}


# Above s3fs' single-PUT threshold (2 x 50 MiB chunks): a multipart upload.
LARGE = 110 * 2**20


def test_io_manager_round_trip_on_s3(s3_env):
    # No base_url: the IO manager reads LAKE_URL, as in production.
    resources = {"io_manager": LakeIOManager()}
    result = dg.materialize([counts, doc], partition_key="2021-01-02|NY", resources=resources)
    assert result.success
    assert s3_env.keys() == [
        "prod/t/counts/2021-01-02/NY.parquet",
        "prod/t/doc/2021-01-02/NY.msgpack",
    ]
    frame = pd.read_parquet(io.BytesIO(s3_env.get("prod/t/counts/2021-01-02/NY.parquet")))
    assert frame.to_dict("records") == [{"region": "NY", "date": "2021-01-02", "positive": 3.0}]
    import msgpack

    assert msgpack.unpackb(s3_env.get("prod/t/doc/2021-01-02/NY.msgpack")) == {
        "region": "NY",
        "rows": 1,
    }
    uri = result.asset_materializations_for_node("t__counts")[0].metadata["uri"].value
    assert uri == f"s3://{s3_env.bucket}/prod/t/counts/2021-01-02/NY.parquet"


def _head(s3_env, key):
    try:
        return s3_env.client().head_object(Bucket=s3_env.bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _pending_uploads(s3_env, key):
    listing = s3_env.client().list_multipart_uploads(Bucket=s3_env.bucket, Prefix=key)
    return [u for u in listing.get("Uploads", []) if u["Key"] == key]


def test_failed_multipart_upload_leaves_old_object(s3_env):
    key = "prod/big/object.bin"
    path = UPath(f"{s3_env.lake_url}/big/object.bin")
    LakeStore.write_bytes(path, b"version 1")

    fs = path.fs
    fs.connect()
    calls = []

    def fail_second_part(params, **kwargs):
        calls.append(params["PartNumber"])
        if params["PartNumber"] == 2:
            raise ConnectionResetError("simulated network failure during part 2")

    fs.s3.meta.events.register("before-parameter-build.s3.UploadPart", fail_second_part)
    try:
        with pytest.raises(ConnectionResetError):
            LakeStore.write_bytes(path, os.urandom(LARGE))
    finally:
        fs.s3.meta.events.unregister("before-parameter-build.s3.UploadPart", fail_second_part)
    assert 2 in calls, "the write never reached its second part: not a multipart upload"
    # Readers still see the whole old object, and the failed upload was aborted.
    assert s3_env.get(key) == b"version 1"
    assert _pending_uploads(s3_env, key) == []


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from upath import UPath
    from resources.lake_store import LakeStore

    url, marker, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    path = UPath(url)
    fs = path.fs
    fs.connect()

    def stall(params, **kwargs):
        # Part 1 is on the wire; hold the event loop here until we are killed.
        if params["PartNumber"] == 2:
            open(marker, "w").close()
            time.sleep(600)

    fs.s3.meta.events.register("before-parameter-build.s3.UploadPart", stall)
    LakeStore.write_bytes(path, os.urandom(size))
    """
)


def test_killed_writer_leaves_no_partial_object(s3_env, tmp_path):
    key = "prod/big/killed.bin"
    marker = tmp_path / "uploading"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"{s3_env.lake_url}/big/killed.bin", str(marker), str(LARGE)],
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, f"writer exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "writer never started its multipart upload"
            time.sleep(0.1)
        # Mid-upload: S3 holds an unfinished multipart upload, not an object.
        assert len(_pending_uploads(s3_env, key)) == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _head(s3_env, key) is None
    assert s3_env.keys() == []
