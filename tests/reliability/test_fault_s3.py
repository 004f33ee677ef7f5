"""S3 becomes unreachable in the middle of a run (real SeaweedFS behind a cuttable proxy).

The rt counts phase runs against ``LAKE_URL=s3://...`` through a TCP proxy in
front of the SeaweedFS fixture. Right after ``rt/raw_counts`` has stored its
object, the proxy drops every connection and stops listening: the next step
(``rt/processed_counts``) cannot read its input. It is retried with
exponential backoff (the job's op retry policy), then fails; no object exists
under its final key and nothing else was left behind. With S3 back, a re-run
completes and stores exactly what a local run computes.
"""

from __future__ import annotations

import urllib.parse

import dagster as dg
import pandas as pd
import pytest

from resources.io_manager import CODECS
from rt_assets import corrections, sources
from tests.reliability.cases import BAD_DAY, CORPUS
from tests.reliability.fault_jobs import TEST_NETWORK_RETRY, counts_defs
from tests.reliability.faults import CuttableProxy

pytestmark = pytest.mark.services

DAY = BAD_DAY
STATE = "NY"


@pytest.fixture
def s3_through_proxy(s3_env, monkeypatch):
    upstream = urllib.parse.urlparse(s3_env.server.endpoint)
    proxy = CuttableProxy(upstream.hostname, upstream.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("COVID_SOURCE", str(CORPUS / "covid_good.csv"))
    monkeypatch.setenv("DAGSTER_DEPLOYMENT", "local")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_env, proxy
    proxy.close()
    s3fs.S3FileSystem.clear_instance_cache()


def events_of(result, step: str, kind: dg.DagsterEventType) -> list:
    return [e for e in result.all_events if e.step_key == step and e.event_type == kind]


def test_s3_unreachable_mid_run_retries_then_fails_cleanly(s3_through_proxy):
    s3, proxy = s3_through_proxy
    job = counts_defs(TEST_NETWORK_RETRY).resolve_job_def("rt_counts_job")
    partition = f"{DAY}|{STATE}"
    snapshot_key = f"{s3.prefix}/rt/raw_counts/{DAY}.csv.gz"
    raw_key = f"{s3.prefix}/rt/raw_counts/{DAY}/{STATE}.csv.gz"
    processed_key = f"{s3.prefix}/rt/processed_counts/{DAY}/{STATE}.parquet"

    # Cut once the state's slice is written (the date's snapshot is written before it).
    proxy.cut_after_put(f"rt/raw_counts/{DAY}/")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=partition, instance=instance, raise_on_error=False
        )
    assert proxy.cut_done.is_set(), "the proxy never cut the connection"
    assert not result.success

    step = "rt__processed_counts"
    assert events_of(result, "rt__raw_counts", dg.DagsterEventType.STEP_SUCCESS)
    retries = events_of(result, step, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(retries) == TEST_NETWORK_RETRY.max_retries
    waits = [e.event_specific_data.seconds_to_wait for e in retries]
    assert waits == sorted(waits) and waits[-1] > waits[0], f"no backoff: {waits}"
    assert len(events_of(result, step, dg.DagsterEventType.STEP_FAILURE)) == 1

    # Only the finished snapshot and slice are in the bucket: no partial or temporary object.
    assert s3.keys() == sorted([snapshot_key, raw_key])

    proxy.restore()
    with dg.instance_for_test() as instance:
        again = job.execute_in_process(
            partition_key=partition, instance=instance, raise_on_error=False
        )
    assert again.success
    assert s3.keys() == sorted([snapshot_key, raw_key, processed_key])
    stored = CODECS["parquet"].loads(s3.get(processed_key))
    good = (CORPUS / "covid_good.csv").read_bytes()
    expected = corrections.process_counts(
        sources.read_source(sources.state_slice(good, STATE)), DAY
    )
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
