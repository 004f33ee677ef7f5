"""The production rehearsal: the deployment as documented, run as a whole on 127.0.0.1.

One module-scoped cluster (cluster.py) and the daily path driven as production
drives it: the daemon's tick of ``rt_daily`` starts the snapshot run, the fan-out
sensor starts the states backfill, inference runs as step pods on the high-memory
pool, the publication and the site land on S3; a flight file put under the lake's
S3 landing prefix goes through the lake into the PostgreSQL warehouse; a failed
freshness check alerts the Slack stand-in once. Then the faults, through the emulator
and the network path: a step pod killed mid-step is retried by the op retry policy; a
step over its memory limit ends OOMKilled and the alert says so; S3 unreachable during a
step, then back; a run whose worker is killed until run monitoring stops resuming it is
cancelled from the webserver: its worker stops the step pod and it ends CANCELED.

Part of ``make test``; alone: ``make rehearsal`` (``pytest -m rehearsal``).
"""

from __future__ import annotations

import datetime as dt
import gzip
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

pytestmark = [pytest.mark.rehearsal, pytest.mark.services, pytest.mark.slow]

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
    """Defect 2: rt/site reads the bundle through rt_assets.page.load_bundle; run that in
    the rt image's own tree (read-only, no checkout), as the step pod would."""
    import tempfile

    from tests.rehearsal.image import namespace_process

    (image,) = [i for ref, i in rehearsal.images.items() if ref.endswith("/rt-lake-rt:0.1.0")]
    probe = "from rt_assets.page import load_bundle; print(sorted(load_bundle()))"
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


# The day is about 20 step pods, each importing the location: on busy shared cores it
# outlasts the suite's default timeout.
@pytest.mark.timeout(2400)
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
        timeout_s=2000,
    )
    # The schedule's tick took the date's snapshot (a real evaluation: its run key is the
    # date), through the first of the day's states; the fan-out did every state from it.
    scheduled = r.runs({"dagster/schedule_name": "rt_daily"})
    assert [run["status"] for run in scheduled] == [SUCCESS]
    tags = {t["key"]: t["value"] for t in scheduled[0]["tags"]}
    assert tags["rt/run-date"] == date
    assert tags["dagster/partition"] == f"{date}|{sorted(REHEARSAL_STATES)[0]}"
    assert f"lake/rt/raw_counts/{date}.csv.gz" in r.s3_keys(lake, "lake/rt/raw_counts/")

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
        assert container["resources"]["limits"]["memory"] == "2560Mi"
        assert container["resources"]["requests"]["memory"] == "1792Mi"
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


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def _launch(
    r: Rehearsal, job: str, partition: str, location: str = "rt", tags: dict | None = None
) -> str:
    """Launch ``job`` for ``partition`` as the UI's launchpad does (or with ``tags`` in place
    of the partition's, e.g. a partition range); returns the run id."""
    tags = tags or {"dagster/partition": partition}
    launched = r.graphql(
        LAUNCH,
        {
            "params": {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": "__repository__",
                    "jobName": job,
                },
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _status(r: Rehearsal, run_id: str) -> str:
    (run,) = [x for x in r.runs() if x["runId"] == run_id]
    return run["status"]


def _ended(r: Rehearsal, run_id: str) -> str | None:
    status = _status(r, run_id)
    return status if status in (SUCCESS, "FAILURE", CANCELED) else None


def _run_step_pods(r: Rehearsal, run_id: str, op: str) -> list[dict]:
    return [p for p in _step_pods(r, op) if p["metadata"]["labels"].get("dagster/run-id") == run_id]


def _step_started(r: Rehearsal, run_id: str, step: str) -> bool:
    return any(
        e["__typename"] == "ExecutionStepStartEvent" and e.get("stepKey") == step
        for e in r.run_events(run_id)
    )


def _messages(r: Rehearsal, run_id: str) -> str:
    """The run's event messages, each step failure's error (and its cause) after it."""
    lines = []
    for event in r.run_events(run_id):
        lines.append(event.get("message") or "")
        error = event.get("error") or {}
        for part in (error, error.get("cause") or {}):
            if part.get("message"):
                lines.append("  " + part["message"].strip())
    return "\n".join(line for line in lines if line)


def test_a_failed_freshness_check_alerts_slack_once(rehearsal):
    """At start-up nothing of yesterday is published: the freshness sensor's evaluation
    fails the rt freshness checks, and the alert sensor posts each failure once to the
    Slack stand-in, with a link to the webserver's URL."""
    r = rehearsal

    def freshness_alerts() -> list:
        return [c for c in r.slack.requests if "fresh" in str(c.body).lower()]

    alerts = r.wait("a freshness alert on the Slack stand-in", freshness_alerts, 600)
    assert all(c.path == "/api/chat.postMessage" for c in alerts), [c.path for c in alerts]
    assert all(c.headers.get("Authorization") == "Bearer xoxb-test-token" for c in alerts)
    text = str(alerts[0].body)
    assert "rt/published_msgpack" in text or "rt/published_csv" in text or "rt/national_csv" in text
    assert r.webserver_url in text, text
    # The alert sensor has ticked many times since: a failing check is not re-announced.
    bodies = [str(c.body) for c in freshness_alerts()]
    assert len(bodies) == len(set(bodies)), bodies


def test_a_step_pod_killed_mid_step_is_retried_by_the_op_retry_policy(rehearsal):
    """VT: its inference pod is SIGKILLed mid-step. The executor's health check fails the
    step, the op retry policy starts a fresh pod, the run succeeds, and no run retry is
    made (docs/production.md). NH, launched at the same time, needs more memory than its
    limit on every attempt: it is checked at the end of the module, while the other
    scenarios run."""
    r = rehearsal
    date = r.run_date
    killed = _launch(r, "rt_inference_job", f"{date}|VT")
    starved = _launch(r, "rt_inference_job", f"{date}|NH")
    for _ in range(3):  # the first attempt and both retries of POD_LOSS_RETRY
        r.k8s.constrain_next_pod_memory(
            f"dagster/run-id={starved},dagster/op=rt__inference", 300 * 1024 * 1024
        )
    r.oom_run = starved
    _wait_recording(
        r, "VT's inference step to start", lambda: _step_started(r, killed, "rt__inference"), 420
    )
    (pod,) = [
        p
        for p in r.k8s.list("Pod", NAMESPACE, label_selector=f"dagster/run-id={killed},dagster/op")
        if p["status"].get("phase") == "Running"
    ]
    assert r.k8s.crash_pod(NAMESPACE, pod["metadata"]["name"]) == 1

    status = _wait_recording(r, "the killed step's run to end", lambda: _ended(r, killed), 900)
    assert status == SUCCESS, _messages(r, killed)[-4000:]
    pods = _run_step_pods(r, killed, "rt__inference")
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    messages = _messages(r, killed)
    assert "failed health check: Discovered failed Kubernetes job" in messages, messages[-4000:]
    assert any(e["__typename"] == "ExecutionStepUpForRetryEvent" for e in r.run_events(killed))
    assert not r.runs({"dagster/parent_run_id": killed})  # op retries, not run retries


def test_a_backfill_batch_fits_its_dates_in_one_heavy_pod_and_stores_each_on_s3(rehearsal):
    """A backfill's batch on the cluster: two dates of VT in one run, with the partition
    range a BackfillPolicy.multi_run run carries (rt_assets/partitions.py). One inference
    pod fits both; each posterior and summary is its own object on S3 (written by the
    inference pod, read back by the summary's pod); the check is recorded per date."""
    r = rehearsal
    day = dt.date.fromisoformat(r.run_date)
    # Dates no other scenario uses: the daily run has run_date, the retries its VT and NH.
    dates = [(day - dt.timedelta(days=n)).isoformat() for n in (3, 2)]
    run_id = _launch(
        r,
        "rt_inference_job",
        "",
        tags={
            "dagster/asset_partition_range_start": f"{dates[0]}|VT",
            "dagster/asset_partition_range_end": f"{dates[1]}|VT",
        },
    )
    status = _wait_recording(r, "the batch's run to end", lambda: _ended(r, run_id), 900)
    assert status == SUCCESS, _messages(r, run_id)[-4000:]
    pods = _run_step_pods(r, run_id, "rt__inference")
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    assert _node_pool(r, pods[0]["spec"]["nodeName"]) == HIGH_MEMORY
    lake = r.buckets["rt"]
    stored = set(r.s3_keys(lake, "lake/rt/"))
    for date in dates:
        for key in (f"inference/{date}/VT.nc", f"summary/{date}/VT.parquet"):
            assert f"lake/rt/{key}" in stored, key
    messages = _messages(r, run_id)
    for date in dates:
        assert f"partition 1/2 of this run: {dates[0]}|VT" in messages
        assert f"Description: '{date}|VT: " in messages, messages[-4000:]


def test_s3_unreachable_during_a_step_then_back_retries_and_leaves_nothing_half_written(
    rehearsal,
):
    """The snapshot of the day before the run date (the rt_counts_job for VT): while the
    snapshot step runs, S3 becomes unreachable from every process of the deployment; the
    step fails, the network retry policy retries it, S3 comes back, the run succeeds and
    the snapshot and VT's slice on S3 are whole (no partial object is left beside them)."""
    r = rehearsal
    lake = r.buckets["rt"]
    date = (dt.date.fromisoformat(r.run_date) - dt.timedelta(days=1)).isoformat()
    snapshot = f"lake/rt/raw_counts/{date}.csv.gz"
    assert snapshot not in r.s3_keys(lake, "lake/rt/raw_counts/")
    before = set(r.s3_keys(lake, "lake/"))
    run_id = _launch(r, "rt_counts_job", f"{date}|VT")
    _wait_recording(
        r,
        "the snapshot step pod to run",
        lambda: [
            p
            for p in r.k8s.list(
                "Pod", NAMESPACE, label_selector=f"dagster/run-id={run_id},dagster/op"
            )
            if p["status"].get("phase") == "Running"
        ],
        420,
    )
    r.s3_path.cut()
    try:
        r.wait(
            "the snapshot step to fail and be retried",
            lambda: any(
                e["__typename"] == "ExecutionStepUpForRetryEvent"
                and e.get("stepKey") == "rt__raw_counts"
                for e in r.run_events(run_id)
            ),
            300,
        )
    finally:
        r.s3_path.restore()
    assert r.wait("the snapshot run to end", lambda: _ended(r, run_id), 600) == SUCCESS, _messages(
        r, run_id
    )[-3000:]
    rows = pd.read_csv(io.BytesIO(gzip.decompress(r.s3_get(lake, snapshot))))
    assert set(REHEARSAL_STATES) <= set(rows["state"]), rows.head()
    # Of that date, exactly the two outputs (the daily path may write other dates).
    added = {k for k in set(r.s3_keys(lake, "lake/")) - before if date in k}
    assert added == {snapshot, f"lake/rt/raw_counts/{date}/VT.csv.gz"}, sorted(added)


TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) { __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message } }
}"""
# Dagster's engine events on the path of a resumed, then cancelled run.
REATTACHED = "Checking on status of in-progress step rt__inference from previous run"
RELAUNCHED = "Including step rt__inference in the new run"
FORWARDED = "Executor received termination signal, forwarding to steps"
NOT_FORWARDED = "not forwarding to steps because run will be resumed"


def _run_workers(r: Rehearsal, run_id: str, phase: str | None = None) -> list[dict]:
    """The run's run-worker pods (a step pod carries ``dagster/op``)."""
    return [
        p
        for p in r.k8s.list("Pod", NAMESPACE, label_selector=f"dagster/run-id={run_id}")
        if "dagster/op" not in p["metadata"]["labels"]
        and (phase is None or p["status"].get("phase") == phase)
    ]


def _max_resume_run_attempts(r: Rehearsal) -> int:
    import yaml

    instance = r.rendered.configmap("dagster-dagster-instance")["data"]["dagster.yaml"]
    return int(yaml.safe_load(instance)["run_monitoring"]["max_resume_run_attempts"])


def test_a_run_cancelled_in_the_webserver_ends_canceled_with_its_pods_gone(rehearsal):
    """Cancelling a resumed run from the webserver (defect 4). While its inference step
    runs, the run worker's container is SIGKILLed, as many times as run monitoring resumes
    a run (``max_resume_run_attempts``, 2): each time the daemon sees the run Job failed
    and starts a new run worker, which finds the step pod still running and waits on it.
    Then the run is cancelled: the launcher (webserver, platform account) deletes the
    third run Job and its pod; the pod is deleted gracefully, so the run worker gets
    SIGTERM and, its run no longer to be resumed, forwards the termination to the step:
    ``terminate_step`` deletes the step's Job and pod under the code location's account
    (its Role's ``delete`` on pods; the step Job is owned by the first run pod, which is
    still there, so nothing else would stop the step). The run ends CANCELED, no pod of
    it runs (the killed workers' pods go with their Jobs' TTL, checked at the end), and
    no API call was refused (403)."""
    from dagster._daemon.monitoring.run_monitoring import RESUME_RUN_LOG_MESSAGE

    r = rehearsal
    date = (dt.date.fromisoformat(r.run_date) - dt.timedelta(days=1)).isoformat()
    run_id = _launch(r, "rt_inference_job", f"{date}|VT")
    r.cancelled_run = run_id

    def step_running():
        return _step_started(r, run_id, "rt__inference")

    # The state's counts steps come first (the inference job starts from the snapshot).
    _wait_recording(r, "the cancel test's step to start", step_running, 600)
    resumes = _max_resume_run_attempts(r)
    assert resumes > 0
    killed = []
    for attempt in range(1, resumes + 1):
        (worker,) = _run_workers(r, run_id, "Running")
        assert r.k8s.crash_pod(NAMESPACE, worker["metadata"]["name"]) == 1
        killed.append(worker["metadata"]["name"])
        _wait_recording(
            r,
            f"run monitoring to resume the run (attempt {attempt}) and the new worker to "
            "find the step",
            lambda attempt=attempt: _messages(r, run_id).count(REATTACHED) >= attempt,
            240,
        )
    messages = _messages(r, run_id)
    assert messages.count(RESUME_RUN_LOG_MESSAGE) == resumes, messages[-4000:]
    assert RELAUNCHED not in messages, messages[-4000:]  # each worker waited on the same step
    (step_pod,) = _run_step_pods(r, run_id, "rt__inference")
    step_pod_name = step_pod["metadata"]["name"]
    assert r.k8s.get("Pod", NAMESPACE, step_pod_name)["status"]["phase"] == "Running"

    result = r.graphql(TERMINATE, {"runId": run_id})["terminateRun"]
    assert result["__typename"] == "TerminateRunSuccess", result

    r.wait("the cancelled run to end CANCELED", lambda: _status(r, run_id) == CANCELED, 240)
    forbidden = [q for q in r.k8s.requests if q.status == 403]
    assert not forbidden, [(q.method, q.path, q.user) for q in forbidden]
    messages = _messages(r, run_id)
    assert FORWARDED in messages and NOT_FORWARDED not in messages, messages[-4000:]
    r.wait(
        "every pod of the cancelled run but the killed workers' to be gone",
        lambda: (
            sorted(
                p["metadata"]["name"]
                for p in r.k8s.list("Pod", NAMESPACE, label_selector=f"dagster/run-id={run_id}")
            )
            == sorted(killed)
        ),
        120,
    )
    # The third run worker's terminate_step deleted the step's Job and pod, as the
    # location's service account.
    location_account = f"system:serviceaccount:{NAMESPACE}:rt-code-location"
    step_job = step_pod["metadata"]["labels"]["job-name"]
    for resource, name in (("jobs", step_job), ("pods", step_pod_name)):
        deletes = [
            (q.user, q.status)
            for q in r.k8s.requests
            if q.verb == "delete" and q.resource == resource and q.name == name
        ]
        assert (location_account, 200) in deletes, (resource, name, deletes)
    # The killed workers' pods stay (Failed) until their Jobs' TTL; checked at the end.
    assert {p["status"]["phase"] for p in _run_workers(r, run_id)} == {"Failed"}


def test_a_step_over_its_memory_limit_ends_oom_killed_and_the_alert_says_so(rehearsal):
    """NH (launched with VT above): each of its three inference containers runs under a
    300 MiB cgroup limit (the spec says 2560Mi: a step that needs more than its limit) and
    is OOM-killed. The run fails after the op retries, is not retried as a run
    (retry_on_asset_or_op_failure: false), and the Slack alert names OOMKilled (added
    from the pods' status by resources/pod_diagnosis.py)."""
    r = rehearsal
    run_id = r.oom_run
    status = _wait_recording(r, "the OOM run to end", lambda: _ended(r, run_id), 900)
    assert status == "FAILURE", _messages(r, run_id)[-4000:]
    pods = _run_step_pods(r, run_id, "rt__inference")
    assert len(pods) == 3, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        (container,) = pod["status"]["containerStatuses"]
        assert container["state"]["terminated"]["reason"] == "OOMKilled", container
        assert container["state"]["terminated"]["exitCode"] == 137
    assert not r.runs({"dagster/parent_run_id": run_id})

    def oom_alert() -> list:
        return [c for c in r.slack.requests if run_id in str(c.body) and "OOMKilled" in str(c.body)]

    (alert,) = r.wait("the run failure alert naming OOMKilled", oom_alert, 180)
    text = str(alert.body)
    assert "memory limit 2560Mi" in text and "rt/inference" in text, text
    assert f"{r.run_date}|NH" in text, text


def test_nothing_lingers_and_only_implemented_calls_were_made(rehearsal):
    r = rehearsal
    # Step and run Jobs are deleted by their TTL (shortened to 120 s), pods with them.
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
        360,
    )
    # The cancelled run's killed run workers went with their Jobs.
    if r.cancelled_run:
        assert not r.k8s.list("Pod", NAMESPACE, label_selector=f"dagster/run-id={r.cancelled_run}")
    assert r.k8s.unimplemented_calls() == []
    started = time.monotonic() - r.started
    print(f"rehearsal: {started:.0f} s since the cluster came up")
