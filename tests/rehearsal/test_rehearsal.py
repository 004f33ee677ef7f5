"""The production rehearsal: the deployment as documented, run as a whole on 127.0.0.1.

One module-scoped cluster (cluster.py) and the daily path driven as production
drives it: the daemon's tick of ``rt_daily`` starts the counts run, the fan-out
sensor starts the states backfill, inference runs as step pods on the high-memory
pool, the publication and the site land on S3; a flight file put under the lake's
S3 landing prefix goes through the lake into the PostgreSQL warehouse. Then the
faults: a run cancelled from the webserver must end CANCELED with its pods gone.

Run with ``make rehearsal`` (``pytest -m rehearsal``); not yet part of ``make test``.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import msgpack
import pandas as pd
import pytest
import sqlalchemy as sa

from tests.operations.http_capture import start_capture_server
from tests.rehearsal.cluster import (
    HIGH_MEMORY,
    NAMESPACE,
    POOL_KEY,
    REHEARSAL_STATES,
    Rehearsal,
    start_rehearsal,
)

pytestmark = pytest.mark.rehearsal

SUCCESS, CANCELED = "SUCCESS", "CANCELED"


@pytest.fixture(scope="module")
def rehearsal(postgres_server, s3_server, tmp_path_factory):
    slack = start_capture_server()
    cluster = start_rehearsal(
        tmp_path_factory.mktemp("rehearsal"), postgres_server, s3_server, slack
    )
    cluster.k8s_pods_seen = {}  # pod name -> the last state seen (pods go after their TTL)
    try:
        yield cluster
    finally:
        cluster.stop()
        slack.server.shutdown()


def _record_pods(r: Rehearsal) -> None:
    for pod in r.k8s.list("Pod", NAMESPACE):
        r.k8s_pods_seen[pod["metadata"]["name"]] = pod


def _step_pods(r: Rehearsal, op: str) -> list[dict]:
    return [
        p
        for p in r.k8s_pods_seen.values()
        if p["metadata"].get("labels", {}).get("dagster/op") == op
    ]


def _node_pool(r: Rehearsal, node_name: str) -> str:
    return r.k8s.get("Node", "", node_name)["metadata"]["labels"][POOL_KEY]


def _wait_recording(r: Rehearsal, what: str, check, timeout_s: float):
    def recorded():
        _record_pods(r)
        return check()

    return r.wait(what, recorded, timeout_s, every_s=1)


def test_code_locations_load_from_the_images_with_the_documented_secrets(rehearsal):
    """Defect 1: rt loads with the rt secret as the install steps create it (no
    WAREHOUSE_URL); both code servers run from their images, on the default pool."""
    rt_secret = rehearsal.rendered.secret_values("rt-lake-rt-secrets")
    assert "WAREHOUSE_URL" not in rt_secret
    for location in ("rt", "lake"):
        (pod,) = rehearsal.k8s.list(
            "Pod", NAMESPACE, label_selector=f"app.kubernetes.io/instance={location}"
        )
        assert pod["status"]["phase"] == "Running"
        assert _node_pool(rehearsal, pod["spec"]["nodeName"]) != HIGH_MEMORY


def test_the_rt_image_serves_the_page_bundle(rehearsal):
    """Defect 2: rt/site reads the bundle through rt_assets.site.load_bundle; run that in
    the rt image's own tree (read-only, no checkout), as the step pod would."""
    import tempfile

    from tests.rehearsal.image import namespace_process

    (image,) = [i for ref, i in rehearsal.images.items() if ref.endswith("/rt-lake-rt:0.1.0")]
    probe = "from rt_assets.site import load_bundle; print(sorted(load_bundle()))"
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o1777)
        proc = namespace_process(
            image.rootfs,
            [image.which("python"), "-c", probe],
            image.env,
            image.config["workdir"],
            tmp=Path(tmp),
            read_only=True,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "['app.css', 'app.js', 'index.html']"


def test_daily_tick_runs_the_day_on_the_pools_and_publishes_to_s3(rehearsal):
    r = rehearsal
    lake = r.buckets["rt"]
    date = r.run_date
    published = f"lake/rt/published_msgpack/{date}.msgpack"
    # The site is the last step of the day: wait for it, then read everything back.
    last = {published, f"lake/rt/published_csv/{date}.csv", f"lake/rt/site/{date}/index.html"}
    _wait_recording(
        r,
        f"the scheduled day {date} to be published and its site built on s3://{lake}",
        lambda: last <= set(r.s3_keys(lake, "lake/rt/")),
        timeout_s=1200,
    )
    # The schedule's tick started the counts (a real evaluation: its run key is the date).
    scheduled = r.runs({"dagster/schedule_name": "rt_daily"})
    assert [run["status"] for run in scheduled] == [SUCCESS]
    assert {t["key"]: t["value"] for t in scheduled[0]["tags"]}["dagster/partition"] == date

    document = msgpack.unpackb(r.s3_get(lake, published))
    assert sorted(document["states"]) == sorted(REHEARSAL_STATES)
    csv = pd.read_csv(io.BytesIO(r.s3_get(lake, f"lake/rt/published_csv/{date}.csv")))
    assert sorted(csv["region"].unique()) == sorted(REHEARSAL_STATES)
    for state in REHEARSAL_STATES:
        key = f"lake/rt/inference/{date}/{state}.nc"
        assert key in r.s3_keys(lake, "lake/rt/inference/"), key
    # Defect 2: the site is built from the image's bundle.
    site = r.s3_keys(lake, f"lake/rt/site/{date}/")
    assert {k.rsplit("/", 1)[1] for k in site} >= {"index.html", "app.js", "rt.msgpack"}, site

    _record_pods(r)
    inference = _step_pods(r, "rt__inference")
    assert len(inference) >= len(REHEARSAL_STATES), sorted(r.k8s_pods_seen)
    for pod in inference:
        assert _node_pool(r, pod["spec"]["nodeName"]) == HIGH_MEMORY, pod["metadata"]["name"]
        (container,) = pod["spec"]["containers"]
        assert container["resources"]["limits"]["memory"] == "2Gi"
        assert container["resources"]["requests"]["memory"] == "1536Mi"
        assert pod["spec"]["nodeSelector"] == {POOL_KEY: HIGH_MEMORY}
    light = _step_pods(r, "rt__processed_counts") + _step_pods(r, "rt__national_csv")
    assert light, sorted(r.k8s_pods_seen)
    for pod in light:
        assert _node_pool(r, pod["spec"]["nodeName"]) != HIGH_MEMORY, pod["metadata"]["name"]


def test_a_landed_flight_file_goes_through_the_lake_into_postgres(rehearsal, postgres_server):
    from lake_assets.nycflights import nycflights_year_csv

    r = rehearsal
    bucket = r.buckets["lake"]
    r.s3.client().put_object(Bucket=bucket, Key="lake/landing/2013.csv", Body=nycflights_year_csv())
    warehouse = sa.make_url(postgres_server.get_uri()).set(
        drivername="postgresql+psycopg", database="warehouse"
    )
    engine = sa.create_engine(warehouse)

    def rows() -> int:
        with engine.connect() as conn:
            try:
                return conn.execute(sa.text("SELECT count(*) FROM agg_dep_delay_by_date")).scalar()
            except sa.exc.ProgrammingError:
                return 0

    def landed_run_finished() -> list[str]:
        statuses = [run["status"] for run in r.runs({"lake/landing-file": "2013.csv"})]
        return statuses if statuses and all(s in (SUCCESS, "FAILURE") for s in statuses) else []

    try:
        statuses = _wait_recording(r, "the landed 2013 file's run to end", landed_run_finished, 900)
        assert statuses == [SUCCESS]
        assert rows() == 1095
    finally:
        engine.dispose()
    assert "lake/lake/silver_flights/2013.parquet" in r.s3_keys(bucket, "lake/lake/")


def test_a_run_cancelled_in_the_webserver_ends_canceled_with_its_pods_gone(rehearsal):
    """Cancelling from the webserver: the run ends CANCELED, no pod of it is left and no
    API call was refused. (The emulator deletes a pod with SIGKILL and no grace period,
    so the run worker never gets to delete its own step pods here: the location Role's
    `delete pods` is checked by tests/k8s_emulator/test_emulator.py, not by this test.)"""
    r = rehearsal
    launched = r.graphql(
        """
        mutation Launch($params: ExecutionParams!) {
          launchRun(executionParams: $params) {
            __typename
            ... on LaunchRunSuccess { run { runId } }
            ... on PythonError { message }
            ... on RunConfigValidationInvalid { errors { message } }
          }
        }""",
        {
            "params": {
                "selector": {
                    "repositoryLocationName": "rt",
                    "repositoryName": "__repository__",
                    "jobName": "rt_inference_job",
                },
                "executionMetadata": {
                    "tags": [{"key": "dagster/partition", "value": f"{r.run_date}|VT"}]
                },
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def step_pod_running():
        pods = r.k8s.list("Pod", NAMESPACE, label_selector=f"dagster/run-id={run_id},dagster/op")
        return [p for p in pods if p["status"].get("phase") == "Running"]

    _wait_recording(r, "the cancel test's step pod to run", step_pod_running, 300)
    result = r.graphql(
        """
        mutation Terminate($runId: String!) {
          terminateRun(runId: $runId) { __typename
            ... on TerminateRunFailure { message }
            ... on PythonError { message } }
        }""",
        {"runId": run_id},
    )["terminateRun"]
    assert result["__typename"] == "TerminateRunSuccess", result

    def canceled():
        (run,) = [x for x in r.runs() if x["runId"] == run_id]
        return run["status"] == CANCELED

    r.wait("the cancelled run to end CANCELED", canceled, 240)
    r.wait(
        "every pod of the cancelled run to be gone",
        lambda: not r.k8s.list("Pod", NAMESPACE, label_selector=f"dagster/run-id={run_id}"),
        120,
    )
    forbidden = [q for q in r.k8s.requests if q.status == 403]
    assert not forbidden, [(q.method, q.path, q.user) for q in forbidden]


def test_nothing_lingers_and_only_implemented_calls_were_made(rehearsal):
    r = rehearsal
    # Step and run Jobs are deleted by their TTL (shortened to 30 s), pods with them.
    r.wait(
        "finished Jobs to be deleted by their TTL",
        lambda: (
            not [
                j
                for j in r.k8s.list("Job", NAMESPACE)
                if j.get("status", {}).get("completionTime")
                or any(c["type"] == "Failed" for c in j["status"].get("conditions", []))
            ]
        ),
        180,
    )
    assert r.k8s.unimplemented_calls() == []
    started = time.monotonic() - r.started
    print(f"rehearsal: {started:.0f} s since the cluster came up")
