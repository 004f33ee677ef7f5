"""The production deployment brought up on 127.0.0.1: the rehearsal's cluster.

What runs, and from what:
- the images assembled from docker/*.Dockerfile (``image.py``): every pod runs from
  its image's tree, never from the checkout;
- the objects the documented install creates (``charts.py``), changed only by the
  listed overrides (``overrides.py``), applied to the Kubernetes API emulator
  (``tests/k8s_emulator``) with a default pool and a high-memory pool labelled and
  tainted as docs/production.md tells operators;
- the webserver, the daemon and both code servers are the charts' Deployments, run
  as pods by the emulator's kubelet; runs and steps are Jobs that dagster-k8s's
  ``K8sRunLauncher`` and ``k8s_job_executor`` create through the API;
- Dagster's storage and the warehouse in PostgreSQL (pgserver), the lakes and the
  compute logs on S3 (SeaweedFS), Slack a local HTTP server.

``Rehearsal`` also reads what happened: runs through the webserver's GraphQL API,
objects on S3, pods and Jobs from the emulator.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.fixtures.dagster_server import free_port
from tests.fixtures.helm import REPO_ROOT
from tests.k8s_emulator.apiserver import KubernetesEmulator
from tests.rehearsal import charts, overrides
from tests.rehearsal.image import DEFAULT_CACHE_DIR, ImageDir, assemble_image
from tests.rehearsal.services import (
    Proxy,
    postgres_socket,
    prepare_postgres,
    rehearsal_covid_source,
    tcp_proxy,
    unix_socket_proxy,
)

NAMESPACE = "dagster"
DOCKERFILES = ("docker/platform.Dockerfile", "docker/rt.Dockerfile", "docker/lake.Dockerfile")
# docs/production.md: the high-memory pool's label and taint.
POOL_KEY = "rt-lake/pool"
HIGH_MEMORY = "high-memory"
# The daily run of the rehearsal: two small states, the fast preset.
REHEARSAL_STATES = ("NH", "VT")
SLACK_TOKEN = "xoxb-test-token"  # what tests/operations/http_capture.py accepts
WEBSERVER = overrides.WEBSERVER


@dataclass
class Rehearsal:
    k8s: KubernetesEmulator
    rendered: charts.RenderedDeployment
    applied_overrides: list[overrides.Override]
    images: dict[str, ImageDir]
    s3: object  # tests.fixtures.s3.S3Server
    slack: object  # tests.operations.http_capture.CaptureServer
    webserver_url: str
    run_date: str
    buckets: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    _pg_proxy: Proxy | None = None
    # Every process of the deployment reaches S3 through this (the test itself does not).
    s3_path: Proxy | None = None
    oom_run: str = ""  # the run of the memory fault (started by one test, checked by another)
    cancelled_run: str = ""  # its killed run workers' pods go with their Jobs' TTL, at the end

    # --- GraphQL -------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.webserver_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def runs(self, tags: dict[str, str] | None = None) -> list[dict]:
        filter_ = {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        data = self.graphql(
            """
            query Runs($filter: RunsFilter) {
              runsOrError(filter: $filter) {
                __typename
                ... on Runs { results { runId status jobName tags { key value }
                  assetSelection { path } } }
                ... on PythonError { message }
              }
            }""",
            {"filter": filter_},
        )["runsOrError"]
        assert data["__typename"] == "Runs", data
        return data["results"]

    def run_events(self, run_id: str) -> list[dict]:
        data = self.graphql(
            """
            query Logs($runId: ID!) {
              logsForRun(runId: $runId, limit: 5000) {
                __typename
                ... on EventConnection { events { __typename
                  ... on MessageEvent { message stepKey level }
                  ... on ExecutionStepFailureEvent { error { message cause { message } } }
                  ... on ExecutionStepUpForRetryEvent { error { message cause { message } } }
                } }
              }
            }""",
            {"runId": run_id},
        )["logsForRun"]
        return data.get("events", [])

    def wait(self, what: str, check: Callable[[], object], timeout_s: float, every_s: float = 3):
        """Polls ``check`` until it returns something truthy; on time-out, says what was
        awaited and the state of the cluster."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout_s:.0f} s waiting for {what}\n" + self.describe()
                )
            time.sleep(every_s)

    def describe(self) -> str:
        """Pods, Jobs and recent runs: what a person would look at when it hangs."""
        lines = ["pods:"]
        for pod in self.k8s.list("Pod", NAMESPACE):
            statuses = pod.get("status", {}).get("containerStatuses") or [{}]
            state = json.dumps(statuses[0].get("state", {}))[:160]
            lines.append(
                f"  {pod['metadata']['name']} {pod['status'].get('phase')} "
                f"node={pod['spec'].get('nodeName')} {state}"
            )
        lines.append(
            "jobs: " + ", ".join(j["metadata"]["name"] for j in self.k8s.list("Job", NAMESPACE))
        )
        try:
            lines.append(
                "runs: "
                + json.dumps([(r["runId"][:8], r["status"], r["jobName"]) for r in self.runs()])[
                    :2000
                ]
            )
        except Exception as exc:  # the webserver itself may be what is down
            lines.append(f"runs: unavailable ({exc})")
        return "\n".join(lines)

    def pod_log(self, pod_name: str, tail: int = 60) -> str:
        api = self.k8s.api_client()
        from kubernetes import client

        text = client.CoreV1Api(api).read_namespaced_pod_log(pod_name, NAMESPACE, tail_lines=tail)
        # The kubernetes client hands back str(bytes) for a log that is not valid UTF-8 text
        # (colour codes): read it back as the bytes it was.
        if text.startswith(("b'", 'b"')):
            text = ast.literal_eval(text).decode(errors="replace")
        return text

    # --- S3 ------------------------------------------------------------------------------

    def s3_keys(self, bucket: str, prefix: str = "") -> list[str]:
        client = self.s3.client()
        keys = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def s3_get(self, bucket: str, key: str) -> bytes:
        return self.s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def stop(self) -> None:
        self.k8s.stop()
        for proxy in (self._pg_proxy, self.s3_path):
            if proxy is not None:
                proxy.stop()


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def start_rehearsal(
    workdir: Path,
    postgres_server,  # noqa: ANN001 - pgserver.PostgresServer
    s3_server,  # noqa: ANN001 - tests.fixtures.s3.S3Server
    slack,  # noqa: ANN001 - tests.operations.http_capture.CaptureServer
    cache_dir: Path = DEFAULT_CACHE_DIR,
    log: Callable[[str], None] = print,
) -> Rehearsal:
    """Builds the images, renders the install, starts the services and the cluster, and
    waits until the webserver serves both code locations."""
    started = time.monotonic()
    images = {}
    for dockerfile in DOCKERFILES:
        image = assemble_image(REPO_ROOT / dockerfile, cache_dir=cache_dir)
        images[image.ref] = image
        log(f"rehearsal: image {image.ref} from {dockerfile} ({time.monotonic() - started:.0f} s)")

    pg_password = secrets.token_hex(8)
    warehouse_password = secrets.token_hex(8)
    placeholders = {
        "password": pg_password,
        "pw": warehouse_password,
        "token": SLACK_TOKEN,
        "host": "127.0.0.1",
    }
    rendered = charts.render_deployment(placeholders, cache_dir=cache_dir)

    proxy = unix_socket_proxy(postgres_socket(postgres_server))
    prepare_postgres(
        postgres_server,
        {"dagster": ("dagster", pg_password), "warehouse": ("lake", warehouse_password)},
    )

    buckets = {location: _lake_bucket(rendered, location) for location in ("rt", "lake")}
    buckets["logs"] = charts.DEFAULT_PLACEHOLDERS["log bucket"]
    client = s3_server.client()
    for bucket in buckets.values():
        client.create_bucket(Bucket=bucket)
    today = dt.datetime.now(dt.UTC).date()
    run_date = (today - dt.timedelta(days=1)).isoformat()
    source_key = "rehearsal/covid-source.csv.gz"
    client.put_object(
        Bucket=buckets["rt"],
        Key=source_key,
        Body=rehearsal_covid_source(list(REHEARSAL_STATES), today),
    )

    s3_url = urllib.parse.urlsplit(s3_server.endpoint)
    s3_path = tcp_proxy(s3_url.hostname, s3_url.port)
    webserver_port = free_port()
    endpoints = overrides.Endpoints(
        postgres_host="127.0.0.1",
        postgres_port=proxy.port,
        s3_endpoint_url=f"{s3_url.scheme}://127.0.0.1:{s3_path.port}",
        s3_access_key_id=s3_server.access_key,
        s3_secret_access_key=s3_server.secret_key,
        code_server_ports={"rt": free_port(), "lake": free_port()},
        webserver_port=webserver_port,
    )
    inputs = overrides.RehearsalInputs(
        rt_states=",".join(REHEARSAL_STATES),
        rt_sampler_preset="fast",
        rt_covid_source=f"s3://{buckets['rt']}/{source_key}",
        slack_api_url=f"{slack.url}/api",
        ui_url=f"http://127.0.0.1:{webserver_port}",
    )
    items = overrides.overrides(
        endpoints,
        overrides.Timers(schedule_crons={"rt": "* * * * *"}),
        inputs,
    )
    deployed = overrides.apply_overrides(rendered, items)

    k8s = KubernetesEmulator(
        images={ref: image.path for ref, image in images.items()},
        workdir=workdir / "k8s",
        namespaces=(),
    )
    rehearsal = Rehearsal(
        k8s=k8s,
        rendered=deployed,
        applied_overrides=items,
        images=images,
        s3=s3_server,
        slack=slack,
        webserver_url=f"http://127.0.0.1:{webserver_port}",
        run_date=run_date,
        buckets=buckets,
        _pg_proxy=proxy,
        s3_path=s3_path,
    )
    try:
        k8s.start()
        k8s.add_pools(POOL_KEY, HIGH_MEMORY)
        k8s.apply(deployed.objects)
        elapsed = time.monotonic() - started
        log(f"rehearsal: {len(deployed.objects)} objects applied ({elapsed:.0f} s)")
        rehearsal.wait(
            "the webserver to serve both code locations", rehearsal_locations_loaded(rehearsal), 420
        )
        log(f"rehearsal: webserver up, locations loaded ({time.monotonic() - started:.0f} s)")
    except BaseException:
        log(rehearsal.describe())
        rehearsal.stop()
        raise
    return rehearsal


def _lake_bucket(rendered: charts.RenderedDeployment, location: str) -> str:
    data = rendered.configmap(f"{location}-code-location-env")["data"]
    url = data["LAKE_URL"]
    assert url.startswith("s3://"), url
    return url.removeprefix("s3://").split("/", 1)[0]


def rehearsal_locations_loaded(rehearsal: Rehearsal) -> Callable[[], bool]:
    """True once the webserver serves both locations. A code server whose container
    exited fails at once with its log; one not listening yet is waited for, and the
    workspace reloaded (as a person would press "Reload" in the UI)."""
    query = """
    { workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
    } } } }"""

    def check() -> bool:
        for location in ("rt", "lake"):
            for pod in rehearsal.k8s.list(
                "Pod", NAMESPACE, label_selector=f"app.kubernetes.io/instance={location}"
            ):
                for status in pod.get("status", {}).get("containerStatuses") or []:
                    last = status.get("lastState", {}).get("terminated")
                    now = status.get("state", {}).get("terminated")
                    if last or now:
                        name = pod["metadata"]["name"]
                        log = rehearsal.pod_log(name, tail=400).splitlines()
                        # The exceptions of the chain first: the root cause is the
                        # first of them, far above the traceback's last lines.
                        errors = [
                            line for line in log if re.match(r"^[\w.]+(Error|Exception): ", line)
                        ]
                        raise AssertionError(
                            f"code server {name} exited ({last or now}):\n"
                            + "\n".join(errors + ["..."] + log[-20:])
                        )
        try:
            data = rehearsal.graphql(query)["workspaceOrError"]
        except (requests.RequestException, AssertionError):
            return False
        entries = {e["name"]: e for e in data.get("locationEntries", [])}
        errors = {
            name: (e.get("locationOrLoadError") or {}).get("message", "")
            for name, e in entries.items()
            if (e.get("locationOrLoadError") or {}).get("__typename") == "PythonError"
        }
        unreachable = [n for n, m in errors.items() if "DagsterUserCodeUnreachableError" in m]
        if set(errors) - set(unreachable):
            raise AssertionError(f"code locations failed to load: {errors}")
        if unreachable:
            rehearsal.graphql("mutation { reloadWorkspace { __typename } }")
            return False
        return set(entries) == {"rt", "lake"} and all(
            (e.get("locationOrLoadError") or {}).get("__typename") == "RepositoryLocation"
            for e in entries.values()
        )

    return check
