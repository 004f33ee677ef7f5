"""The Kubernetes emulator, driven by the official client and by dagster-k8s's own client.

Pods run ``python -c ...`` on the host filesystem (image None) through the emulator's
container runtime; each test has its own emulator, and checks that it leaves no process.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import kubernetes.client
import kubernetes.config
import pytest
from dagster_k8s.client import DagsterK8sError, DagsterKubernetesClient, WaitForPodState
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    OwnerReference,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
)
from kubernetes.client.rest import ApiException
from kubernetes.config.incluster_config import InClusterConfigLoader

from resources.k8s import POOL_LABEL
from tests.k8s_emulator.apiserver import KubernetesEmulator
from tests.k8s_emulator.scheduler import parse_quantity

HOST = "emulator.test/host-python:1"  # an image reference mapped to "no image": the host fs
NS = "dagster"
PY = sys.executable
# For pods whose /tmp is an emptyDir: the system interpreter (standard library only),
# which stays visible when the checkout and its venv live under /tmp.
SYSTEM_PY = "/usr/bin/python3"


def _runtime_unavailable() -> str | None:
    from tests.k8s_emulator import runtime

    return runtime.runtime_unavailable_reason()


# Every test here runs the emulator (an HTTPS API server on 127.0.0.1).
pytestmark = pytest.mark.services

needs_runtime = pytest.mark.skipif(
    _runtime_unavailable() is not None,
    reason=f"the emulator's container runtime is unavailable: {_runtime_unavailable()}",
)


@pytest.fixture
def k8s():
    with KubernetesEmulator(
        {HOST: None},
        namespaces=("default", NS),
        tick_s=0.1,
        job_backoff_s=0.1,
        crash_backoff_s=0.2,
    ) as emulator:
        emulator.add_node("node-1")
        yield emulator
        pids = emulator.running_pids()
        errors = list(emulator.controller_errors)
    for pid in pids:
        assert not _alive(pid), f"pid {pid} outlived the emulator"
    assert not errors, errors[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _apis(k8s: KubernetesEmulator, account: tuple[str, str] | None = None):
    client = k8s.api_client(account)
    return kubernetes.client.BatchV1Api(client), kubernetes.client.CoreV1Api(client)


def _dagster_client(k8s: KubernetesEmulator, account: tuple[str, str] | None = None):
    batch, core = _apis(k8s, account)
    return DagsterKubernetesClient.production_client(
        batch_api_override=batch, core_api_override=core
    )


def _job(name: str, code: str, *, backoff_limit: int = 0, **spec) -> dict:
    pod_spec = spec.pop("pod_spec", {})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": "test"}},
        "spec": {
            "backoffLimit": backoff_limit,
            **spec,
            "template": {
                "metadata": {"labels": {"app": "test"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "dagster", "image": HOST, "command": [PY, "-c", code]}],
                    **pod_spec,
                },
            },
        },
    }


def _job_status(k8s: KubernetesEmulator, name: str, namespace: str = NS) -> dict:
    job = k8s.get("Job", namespace, name)
    assert job is not None, f"job {name} is gone"
    return job["status"]


def _condition(status: dict, kind: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


def _pods(k8s: KubernetesEmulator, job_name: str, namespace: str = NS) -> list[dict]:
    return k8s.list("Pod", namespace, label_selector=f"job-name={job_name}")


# --- API-only behaviour (no containers) -----------------------------------------------------


def test_create_conflict_validation_and_unimplemented_calls_are_loud(k8s):
    batch, core = _apis(k8s)
    body = _job("twice", "pass", pod_spec={"nodeSelector": {"no": "such-node"}})
    created = batch.create_namespaced_job(NS, body)
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": created.metadata.uid
    }

    with pytest.raises(ApiException) as conflict:
        batch.create_namespaced_job(NS, body)
    assert conflict.value.status == 409
    status = json.loads(conflict.value.body)
    assert status["kind"] == "Status"
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'jobs.batch "twice" already exists'

    bad = _job("Bad_Name", "pass")
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(ApiException) as invalid:
        batch.create_namespaced_job(NS, bad)
    assert invalid.value.status == 422
    message = json.loads(invalid.value.body)["message"]
    assert 'Job.batch "Bad_Name" is invalid' in message
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Always"' in message

    with pytest.raises(ApiException) as missing:
        batch.read_namespaced_job_status("nope", NS)
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == 'jobs.batch "nope" not found'

    assert k8s.unimplemented_calls() == []
    with pytest.raises(ApiException) as patch:
        batch.patch_namespaced_job("twice", NS, {"metadata": {"labels": {"x": "y"}}})
    assert patch.value.status == 405
    with pytest.raises(ApiException) as configmaps:
        core.list_namespaced_config_map(NS)
    assert configmaps.value.status == 405
    with pytest.raises(ApiException) as watch:
        core.list_namespaced_pod(NS, watch=True, _preload_content=False)
    assert watch.value.status == 405
    assert [(r.method, r.verb, r.resource) for r in k8s.unimplemented_calls()] == [
        ("PATCH", "patch", "jobs"),
        ("GET", "list", "configmaps"),
        ("GET", "watch", "pods"),
    ]

    unauthenticated = kubernetes.client.Configuration()
    unauthenticated.host = k8s.url
    unauthenticated.ssl_ca_cert = str(k8s.ca_cert_path)
    anonymous = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(unauthenticated))
    with pytest.raises(ApiException) as unauthorized:
        anonymous.list_namespaced_pod(NS)
    assert unauthorized.value.status == 401


def test_selectors_pending_pods_and_field_selected_events(k8s):
    batch, core = _apis(k8s)
    for name, labels in (("sel-a", {"tier": "light"}), ("sel-b", {"tier": "heavy"})):
        body = _job(name, "pass", pod_spec={"nodeSelector": {"no": "such-node"}})
        body["metadata"]["labels"] = labels
        batch.create_namespaced_job(NS, body)
    assert [
        j.metadata.name
        for j in batch.list_namespaced_job(NS, field_selector="metadata.name=sel-b").items
    ] == ["sel-b"]
    assert [
        j.metadata.name
        for j in batch.list_namespaced_job(NS, label_selector="tier in (heavy,medium)").items
    ] == ["sel-b"]
    assert [
        j.metadata.name for j in batch.list_namespaced_job(NS, label_selector="tier!=heavy").items
    ] == ["sel-a"]

    pods = k8s.wait_for(
        lambda: core.list_namespaced_pod(NS, label_selector="job-name=sel-a").items,
        what="the job's pod",
    )
    pod = pods[0]
    job_uid = batch.read_namespaced_job("sel-a", NS).metadata.uid
    assert re.fullmatch(r"sel-a-[bcdfghjklmnpqrstvwxz2456789]{5}", pod.metadata.name)
    assert pod.metadata.labels["job-name"] == "sel-a"
    assert pod.metadata.labels["batch.kubernetes.io/job-name"] == "sel-a"
    assert pod.metadata.labels["controller-uid"] == job_uid
    assert pod.metadata.labels["batch.kubernetes.io/controller-uid"] == job_uid
    assert pod.metadata.labels["app"] == "test"
    (owner,) = pod.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Job", "sel-a", job_uid, True)

    def unschedulable():
        current = core.read_namespaced_pod(pod.metadata.name, NS)
        conditions = {c.type: c for c in current.status.conditions or []}
        scheduled = conditions.get("PodScheduled")
        return current if scheduled and scheduled.status == "False" else None

    current = k8s.wait_for(unschedulable, what="PodScheduled=False")
    assert current.status.phase == "Pending"
    message = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pod.metadata.name}"
    ).items
    assert [(e.type, e.reason, e.message) for e in events] == [
        ("Warning", "FailedScheduling", message)
    ]
    by_name = core.list_namespaced_pod(NS, field_selector=f"metadata.name={pod.metadata.name}")
    assert [p.metadata.name for p in by_name.items] == [pod.metadata.name]
    assert k8s.unimplemented_calls() == []


def test_rbac_forbids_what_the_role_does_not_grant(k8s, tmp_path):
    account = (NS, "rt-lake-rt")
    k8s.apply(_role_manifests(*account, delete_pods=False))
    batch, core = _apis(k8s, account)
    batch.create_namespaced_job(
        NS, _job("allowed", "pass", pod_spec={"nodeSelector": {"no": "node"}})
    )
    pods = k8s.wait_for(lambda: _pods(k8s, "allowed"), what="pod")
    name = pods[0]["metadata"]["name"]
    assert core.read_namespaced_pod_status(name, NS).metadata.name == name

    with pytest.raises(ApiException) as denied:
        core.delete_namespaced_pod(name, NS)
    assert denied.value.status == 403
    status = json.loads(denied.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        f'pods "{name}" is forbidden: User "system:serviceaccount:{NS}:rt-lake-rt" cannot '
        f'delete resource "pods" in API group "" in the namespace "{NS}"'
    )
    with pytest.raises(ApiException) as events:
        core.list_namespaced_event(NS)
    assert json.loads(events.value.body)["message"] == (
        f'events is forbidden: User "system:serviceaccount:{NS}:rt-lake-rt" cannot list '
        f'resource "events" in API group "" in the namespace "{NS}"'
    )
    with pytest.raises(ApiException) as elsewhere:
        batch.list_namespaced_job("default")
    assert elsewhere.value.status == 403
    assert k8s.unimplemented_calls() == []
    assert {r.user for r in k8s.requests} == {f"system:serviceaccount:{NS}:rt-lake-rt"}

    kubeconfig = k8s.write_kubeconfig(
        tmp_path / "kubeconfig", namespace=NS, service_account=account
    )
    from_kubeconfig = kubernetes.client.CoreV1Api(
        kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    )
    assert [p.metadata.name for p in from_kubeconfig.list_namespaced_pod(NS).items] == [name]
    with pytest.raises(ApiException) as denied_again:
        from_kubeconfig.delete_namespaced_pod(name, NS)
    assert denied_again.value.status == 403

    k8s.apply(_role_manifests(*account, delete_pods=True))
    core.delete_namespaced_pod(name, NS)
    assert k8s.get("Pod", NS, name) is None


def _role_manifests(namespace: str, name: str, *, delete_pods: bool) -> list[dict]:
    """The shape of the project's code-location ServiceAccount, Role and RoleBinding."""
    rules = [
        {
            "apiGroups": ["batch"],
            "resources": ["jobs", "jobs/status"],
            "verbs": ["create", "get", "list", "watch", "delete"],
        },
        {
            "apiGroups": [""],
            "resources": ["pods", "pods/log", "pods/status"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    if delete_pods:
        rules.append({"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]})
    meta = {"name": name, "namespace": namespace}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "automountServiceAccountToken": True,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def test_scheduler_pools_taints_and_requests():
    with KubernetesEmulator({HOST: None}, namespaces=(NS,), tick_s=0.1) as k8s:
        assert k8s.add_pools(POOL_LABEL, "high-memory") == ["default-pool-1", "high-memory-pool-1"]

        def pod(name: str, memory: str, **spec) -> dict:
            return {
                "kind": "Pod",
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "schedulerName": "not-yet",
                    **spec,
                    "containers": [
                        {
                            "name": "main",
                            "image": "not.pulled/anything:1",
                            "resources": {"requests": {"cpu": "250m", "memory": memory}},
                        }
                    ],
                },
            }

        heavy = {
            "nodeSelector": {POOL_LABEL: "high-memory"},
            "tolerations": [
                {
                    "key": POOL_LABEL,
                    "operator": "Equal",
                    "value": "high-memory",
                    "effect": "NoSchedule",
                }
            ],
        }
        # Images are not pulled in this test: the schedulerName holds pods until applied again.
        k8s.apply(
            [
                pod("heavy", "1536Mi", **heavy),
                pod("light", "512Mi"),
                pod("selector-only", "1Gi", nodeSelector={POOL_LABEL: "high-memory"}),
                pod("too-big", "100Gi", **heavy),
                pod("filler", "15900Mi"),
            ]
        )
        # Scheduling is FIFO by creation: release the pods one by one through the store.
        with k8s.store.lock:
            for name in ("heavy", "light", "selector-only", "too-big", "filler"):
                k8s.store.get("Pod", NS, name)["spec"]["schedulerName"] = "default-scheduler"
                k8s.sync()

        def node_of(name: str) -> str | None:
            return k8s.get("Pod", NS, name)["spec"].get("nodeName")

        assert node_of("heavy") == "high-memory-pool-1"
        assert node_of("light") == "default-pool-1"
        assert node_of("selector-only") is None
        assert node_of("too-big") is None
        assert node_of("filler") is None  # 15900Mi + 512Mi > 16Gi on the default pool

        def failed_scheduling(name: str) -> str:
            (event,) = [e for e in k8s.events(NS, name) if e["reason"] == "FailedScheduling"]
            assert event["type"] == "Warning"
            return event["message"]

        assert failed_scheduling("selector-only") == (
            "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "1 node(s) had untolerated taint {rt-lake/pool: high-memory}."
        )
        assert failed_scheduling("too-big") == (
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node "
            "affinity/selector."
        )
        assert failed_scheduling("filler") == (
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint "
            "{rt-lake/pool: high-memory}."
        )
        condition = next(
            c
            for c in k8s.get("Pod", NS, "too-big")["status"]["conditions"]
            if c["type"] == "PodScheduled"
        )
        assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")

        k8s.delete("Pod", NS, "light")  # frees 512Mi: the filler fits now
        k8s.sync()
        assert node_of("filler") == "default-pool-1"
        assert parse_quantity("1536Mi") == 1536 * 2**20
        assert parse_quantity("250m") * 1000 == 250


# --- pods that run ---------------------------------------------------------------------------


@needs_runtime
def test_dagster_client_waits_for_success_and_reads_logs(k8s):
    client = _dagster_client(k8s)
    code = "import os\nfor i in range(5): print('line', i, os.environ['HOSTNAME'])"
    client.create_namespaced_job_with_retries(
        body=_job("ok", code, ttlSecondsAfterFinished=3600), namespace=NS
    )
    client.wait_for_job_success("ok", NS, wait_timeout=30, wait_time_between_attempts=0.1)
    (name,) = client.get_pod_names_in_job("ok", NS)
    client.wait_for_pod(
        name,
        NS,
        wait_for_state=WaitForPodState.Terminated,
        wait_timeout=10,
        wait_time_between_attempts=0.1,
    )
    logs = client.retrieve_pod_logs(name, NS)
    assert logs == "".join(f"line {i} {name}\n" for i in range(5))
    tail = client.retrieve_pod_logs(
        name, NS, container_name="dagster", tail_lines=2, timestamps=True
    )
    stamped = tail.splitlines()
    assert len(stamped) == 2
    for line, expected in zip(stamped, ("line 3", "line 4"), strict=True):
        assert re.fullmatch(
            rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{9}}Z {expected} {name}", line
        ), line

    pod = client.get_pod_by_name(name, NS)
    assert pod.status.phase == "Succeeded"
    assert pod.spec.node_name == "node-1" and pod.status.host_ip
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    status = client.get_job_status("ok", NS)
    assert status.succeeded == 1 and not status.active and not status.failed
    assert _condition(k8s.get("Job", NS, "ok")["status"], "Complete")["status"] == "True"
    reasons = {e["reason"] for e in k8s.events(NS, name)}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= reasons
    assert "Debug information for pod" in client.get_pod_debug_info(name, NS)
    assert client.delete_job("ok", NS) is True
    assert k8s.get("Job", NS, "ok") is None and _pods(k8s, "ok") == []
    assert k8s.unimplemented_calls() == []


@needs_runtime
def test_failure_and_backoff_limit(k8s):
    client = _dagster_client(k8s)
    client.create_namespaced_job_with_retries(
        body=_job("fails", "import sys; print('boom'); sys.exit(3)"), namespace=NS
    )
    with pytest.raises(DagsterK8sError, match="Encountered failed job pods"):
        client.wait_for_job_success("fails", NS, wait_timeout=30, wait_time_between_attempts=0.1)
    (pod,) = _pods(k8s, "fails")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (pod["status"]["phase"], terminated["exitCode"], terminated["reason"]) == (
        "Failed",
        3,
        "Error",
    )
    failed = k8s.wait_for(lambda: _condition(_job_status(k8s, "fails"), "Failed"))
    assert failed["reason"] == "BackoffLimitExceeded"

    batch, _ = _apis(k8s)
    batch.create_namespaced_job(NS, _job("retries", "raise SystemExit(1)", backoff_limit=2))
    failed = k8s.wait_for(
        lambda: _condition(_job_status(k8s, "retries"), "Failed"),
        what="the job to fail after its retries",
    )
    assert failed["reason"] == "BackoffLimitExceeded"
    status = _job_status(k8s, "retries")
    assert status["failed"] == 3 and "active" not in status
    assert len(_pods(k8s, "retries")) == 3


@needs_runtime
def test_job_delete_orphans_pods_unless_a_propagation_policy_is_given(k8s):
    batch, core = _apis(k8s)
    sleeper = "import time; time.sleep(60)"
    for name in ("orphaning", "collected"):
        batch.create_namespaced_job(NS, _job(name, sleeper))
    running = {
        name: k8s.wait_for(
            lambda n=name: [p for p in _pods(k8s, n) if p["status"].get("phase") == "Running"],
            what=f"{name} running",
        )[0]
        for name in ("orphaning", "collected")
    }

    batch.delete_namespaced_job("orphaning", NS)  # no policy: batch/v1 orphans the pod
    orphan = k8s.get("Pod", NS, running["orphaning"]["metadata"]["name"])
    assert orphan is not None and orphan["status"]["phase"] == "Running"
    assert orphan["metadata"].get("ownerReferences") == []

    batch.delete_namespaced_job("collected", NS, propagation_policy="Background")
    collected = running["collected"]["metadata"]["name"]
    k8s.wait_for(lambda: k8s.get("Pod", NS, collected) is None, what="the collected pod gone")
    killing = [
        e
        for e in k8s.events(NS, running["collected"]["metadata"]["name"])
        if e["reason"] == "Killing"
    ]
    assert killing and killing[0]["message"] == "Stopping container dagster"

    core.delete_namespaced_pod(orphan["metadata"]["name"], NS)
    k8s.wait_for(lambda: k8s.running_pids() == [], what="no container left")


@needs_runtime
def test_deleting_an_owner_pod_collects_its_step_jobs_and_their_pods(k8s):
    """dagster's enable_owner_references: step Jobs owned by the run pod."""
    run_pod = k8s.apply(
        [
            {
                "kind": "Pod",
                "metadata": {"name": "run-pod", "namespace": NS},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "dagster",
                            "image": HOST,
                            "command": [PY, "-c", "import time; time.sleep(60)"],
                        }
                    ],
                },
            }
        ]
    )[0]
    config = DagsterK8sJobConfig(job_image=HOST, service_account_name="default")
    step_job = construct_dagster_k8s_job(
        config,
        args=None,
        job_name="step-job",
        user_defined_k8s_config=UserDefinedDagsterK8sConfig(
            container_config={"command": [PY, "-c", "import time; time.sleep(60)"]},
            job_spec_config={"ttl_seconds_after_finished": 600},
        ),
        pod_name="step-pod",
        component="step_worker",
        owner_references=[
            OwnerReference(kind="Pod", name="run-pod", uid=run_pod["metadata"]["uid"])
        ],
    )
    client = _dagster_client(k8s)
    client.create_namespaced_job_with_retries(body=step_job, namespace=NS)
    step_pods = k8s.wait_for(
        lambda: [p for p in _pods(k8s, "step-job") if p["status"].get("phase") == "Running"],
        what="the step pod running",
    )
    assert (
        k8s.get("Job", NS, "step-job")["metadata"]["ownerReferences"][0]["uid"]
        == (run_pod["metadata"]["uid"])
    )
    _, core = _apis(k8s)
    core.delete_namespaced_pod("run-pod", NS)
    k8s.wait_for(lambda: k8s.get("Job", NS, "step-job") is None, what="the step Job collected")
    step_pod = step_pods[0]["metadata"]["name"]
    k8s.wait_for(lambda: k8s.get("Pod", NS, step_pod) is None, what="the step pod collected")
    k8s.wait_for(lambda: k8s.running_pids() == [], what="no container left")


@needs_runtime
def test_pod_deletion_is_graceful_sigterm_then_sigkill_after_the_grace_period(k8s):
    """As the kubelet: a deleted pod gets SIGTERM and stays (with a deletionTimestamp)
    until its containers end; one that ignores SIGTERM is killed when its grace period
    ends; gracePeriodSeconds=0 kills at once."""
    _, core = _apis(k8s)
    # Cleans up for a second on SIGTERM, then exits: it ends long before its grace.
    graceful = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    time.sleep(1)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "time.sleep(60)\n"
    )
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"

    def pod(name: str, code: str, grace: int) -> dict:
        return {
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": grace,
                "containers": [{"name": "main", "image": HOST, "command": [PY, "-c", code]}],
            },
        }

    k8s.apply(
        [pod("graceful", graceful, 30), pod("stubborn", stubborn, 2), pod("now", stubborn, 30)]
    )
    for name in ("graceful", "stubborn", "now"):
        k8s.wait_for(
            lambda n=name: (
                (k8s.get("Pod", NS, n) or {}).get("status", {}).get("phase") == "Running"
            ),
            what=f"{name} running",
        )
    time.sleep(0.5)  # the SIGTERM handlers are installed
    started = time.monotonic()
    deleted = core.delete_namespaced_pod("graceful", NS)
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30
    still = k8s.get("Pod", NS, "graceful")
    assert still is not None and still["metadata"]["deletionTimestamp"]
    k8s.wait_for(lambda: k8s.get("Pod", NS, "graceful") is None, what="graceful gone")
    assert 1 <= time.monotonic() - started < 10  # its handler ran; no SIGKILL at 30 s
    assert [e["reason"] for e in k8s.events(NS, "graceful")].count("Killing") == 1

    started = time.monotonic()
    core.delete_namespaced_pod("stubborn", NS)
    time.sleep(1)
    assert k8s.get("Pod", NS, "stubborn") is not None  # SIGTERM ignored, within its grace
    k8s.wait_for(lambda: k8s.get("Pod", NS, "stubborn") is None, what="stubborn killed")
    assert time.monotonic() - started >= 2

    core.delete_namespaced_pod("now", NS, grace_period_seconds=0)
    assert k8s.get("Pod", NS, "now") is None
    k8s.wait_for(lambda: k8s.running_pids() == [], what="no container left")


@needs_runtime
def test_project_role_without_delete_pods_leaves_the_step_pod_running(k8s):
    """DagsterKubernetesClient.delete_job deletes the Job (orphaning) then each pod: 403."""
    account = (NS, "rt-lake-rt")
    k8s.apply(_role_manifests(*account, delete_pods=False))
    client = _dagster_client(k8s, account)
    client.create_namespaced_job_with_retries(
        body=_job("stuck", "import time; time.sleep(60)"), namespace=NS
    )
    pod = k8s.wait_for(
        lambda: [p for p in _pods(k8s, "stuck") if p["status"].get("phase") == "Running"],
        what="the pod running",
    )[0]
    with pytest.raises(ApiException) as denied:
        client.delete_job("stuck", NS)
    assert denied.value.status == 403
    assert k8s.get("Job", NS, "stuck") is None
    survivor = k8s.get("Pod", NS, pod["metadata"]["name"])
    assert survivor is not None and survivor["status"]["phase"] == "Running"
    assert k8s.running_pids()


@needs_runtime
def test_ttl_and_active_deadline(k8s):
    batch, _ = _apis(k8s)
    batch.create_namespaced_job(NS, _job("short-lived", "pass", ttlSecondsAfterFinished=1))
    batch.create_namespaced_job(
        NS, _job("too-slow", "import time; time.sleep(60)", activeDeadlineSeconds=1)
    )
    sleeper = [PY, "-c", "import time; time.sleep(60)"]
    k8s.apply(
        [
            {
                "kind": "Pod",
                "metadata": {"name": "pod-deadline", "namespace": NS},
                "spec": {
                    "activeDeadlineSeconds": 1,
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": HOST, "command": sleeper}],
                },
            }
        ]
    )
    k8s.wait_for(lambda: _condition(_job_status(k8s, "short-lived"), "Complete"))
    k8s.wait_for(
        lambda: k8s.get("Job", NS, "short-lived") is None, timeout=10, what="the TTL controller"
    )
    assert _pods(k8s, "short-lived") == []

    failed = k8s.wait_for(
        lambda: _condition(_job_status(k8s, "too-slow"), "Failed"), timeout=10, what="the deadline"
    )
    assert failed["reason"] == "DeadlineExceeded"
    status = _job_status(k8s, "too-slow")
    assert status["failed"] == 1 and "active" not in status
    # Its running pod is deleted (gracefully: SIGTERM, then gone).
    k8s.wait_for(lambda: _pods(k8s, "too-slow") == [], timeout=30, what="the job's pod deleted")

    pod = k8s.wait_for(
        lambda: (p := k8s.get("Pod", NS, "pod-deadline"))["status"]["phase"] == "Failed" and p,
        timeout=10,
        what="the pod's own deadline",
    )
    assert (
        pod["status"]["reason"],
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
    ) == ("DeadlineExceeded", 137)
    k8s.wait_for(lambda: k8s.running_pids() == [], timeout=30, what="no container left")


@needs_runtime
def test_kubelet_builds_the_environment_volumes_and_in_cluster_config(k8s):
    # What load_incluster_config() does, without the client's slow import in every pod:
    # the mounted token and CA, the KUBERNETES_SERVICE_* address, TLS verified for the IP.
    probe = """
import json, os, ssl, sys, urllib.request
account = "/var/run/secrets/kubernetes.io/serviceaccount/"
read = lambda path: open(path).read()
url = "https://{}:{}/api/v1/namespaces/{}/pods".format(
    os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"],
    os.environ["MY_NAMESPACE"])
token = read(account + "token")
request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
context = ssl.create_default_context(cafile=account + "ca.crt")
pods = json.load(urllib.request.urlopen(request, context=context))
open("/scratch/x", "w").write("writable")
print(json.dumps({"env": dict(os.environ), "argv": sys.argv[1:], "cwd": os.getcwd(),
    "config": read("/etc/app/config.yaml"), "namespace": read(account + "namespace"),
    "pods": [p["metadata"]["name"] for p in pods["items"]]}))
"""
    k8s.apply(
        [
            {
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": NS},
                "data": {"FROM_CM": "cm-value", "config.yaml": "answer: 42\n"},
            },
            {
                "kind": "ConfigMap",
                "metadata": {"name": "code", "namespace": NS},
                "data": {"probe.py": probe},
            },
            {
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": NS},
                "stringData": {"password": "s3cret"},
            },
            *_role_manifests(NS, "reader", delete_pods=False),
        ]
    )
    body = _job(
        "probe",
        "",
        pod_spec={
            "serviceAccountName": "reader",
            "volumes": [
                {"name": "settings", "configMap": {"name": "settings"}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "code", "configMap": {"name": "code"}},
            ],
        },
    )
    container = body["spec"]["template"]["spec"]["containers"][0]
    container.update(
        {
            "command": [PY, "/code/probe.py"],
            "args": ["$(MY_POD)", "$$(NOT_EXPANDED)"],
            "workingDir": "/scratch",
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "env": [
                {
                    "name": "PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                },
                {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {
                    "name": "MY_NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                {"name": "GREETING", "value": "hello $(MY_POD)"},
                {"name": "LATER", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "k"}}},
            ],
            "volumeMounts": [
                {"name": "settings", "mountPath": "/etc/app/config.yaml", "subPath": "config.yaml"},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "code", "mountPath": "/code", "readOnly": True},
            ],
            "resources": {"limits": {"memory": "512Mi"}},
        }
    )
    batch, core = _apis(k8s)
    batch.create_namespaced_job(NS, body)

    def waiting():
        pods = _pods(k8s, "probe")
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return (
            statuses
            and statuses[0]["state"].get("waiting", {}).get("reason")
            == ("CreateContainerConfigError")
            and statuses[0]["state"]["waiting"]
        )

    assert k8s.wait_for(waiting, what="CreateContainerConfigError")["message"] == (
        'configmap "late" not found'
    )
    k8s.apply(
        [
            {
                "kind": "ConfigMap",
                "metadata": {"name": "late", "namespace": NS},
                "data": {"k": "arrived"},
            }
        ]
    )
    _dagster_client(k8s).wait_for_job_success(
        "probe", NS, wait_timeout=30, wait_time_between_attempts=0.1
    )
    (pod,) = _pods(k8s, "probe")
    name = pod["metadata"]["name"]
    report = json.loads(core.read_namespaced_pod_log(name, NS, _preload_content=False).data)
    env = report["env"]
    assert env["HOSTNAME"] == name
    assert env["FROM_CM"] == "cm-value" and env["PASSWORD"] == "s3cret"
    assert env["GREETING"] == f"hello {name}" and env["LATER"] == "arrived"
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == str(k8s.port)
    assert not {"HOME", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST"} & set(env)  # nothing inherited
    assert report["argv"] == [name, "$(NOT_EXPANDED)"]
    assert report["cwd"] == "/scratch"
    assert report["config"] == "answer: 42\n"
    assert report["namespace"] == NS
    assert report["pods"] == [name]
    in_cluster = k8s.in_cluster_dir(NS, "reader")
    assert (in_cluster / "token").read_text() == k8s.token(NS, "reader")
    configuration = kubernetes.client.Configuration()
    InClusterConfigLoader(
        token_filename=str(in_cluster / "token"),
        cert_filename=str(in_cluster / "ca.crt"),
        environ=k8s.in_cluster_env(),
    ).load_and_set(configuration)
    listed = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    assert [p.metadata.name for p in listed.list_namespaced_pod(NS).items] == [name]
    assert {r.user for r in k8s.requests if r.user.endswith(":reader")} == {
        f"system:serviceaccount:{NS}:reader"
    }


@needs_runtime
def test_unknown_image_oom_kill_and_deployment_pods(k8s):
    client = _dagster_client(k8s)
    body = _job("no-image", "pass")
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/missing:0.1.0"
    client.create_namespaced_job_with_retries(body=body, namespace=NS)
    (name,) = k8s.wait_for(lambda: client.get_pod_names_in_job("no-image", NS))
    with pytest.raises(DagsterK8sError, match='Reason="(ErrImagePull|ImagePullBackOff)"'):
        client.wait_for_pod(name, NS, wait_timeout=10, wait_time_between_attempts=0.1)
    assert k8s.get("Pod", NS, name)["status"]["phase"] == "Pending"

    hog = "b = bytearray(400 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('survived')"
    oom = _job("oom", hog)
    oom["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"memory": "64Mi"},
        "requests": {"memory": "64Mi"},
    }
    client.create_namespaced_job_with_retries(body=oom, namespace=NS)
    k8s.wait_for(lambda: _condition(_job_status(k8s, "oom"), "Failed"), what="the OOM kill")
    (pod,) = _pods(k8s, "oom")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "OOMKilled")
    assert "OOMKilled" in {e["reason"] for e in k8s.events(NS, pod["metadata"]["name"])}

    k8s.apply(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "webserver", "namespace": NS},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": HOST,
                                    "command": [PY, "-c", "import time; time.sleep(60)"],
                                }
                            ]
                        },
                    },
                },
            }
        ]
    )

    def running_web():
        pods = [
            p
            for p in k8s.list("Pod", NS, label_selector="app=web")
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]
        return pods[0] if len(pods) == 1 else None

    first = k8s.wait_for(running_web, what="the deployment's pod")
    assert first["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    k8s.delete("Pod", NS, first["metadata"]["name"])
    second = k8s.wait_for(running_web, what="the replacement pod")
    assert second["metadata"]["name"] != first["metadata"]["name"]
    k8s.wait_for(
        lambda: k8s.get("Deployment", NS, "webserver")["status"].get("readyReplicas"),
        what="the deployment's status",
    )


@needs_runtime
def test_stop_kills_every_container():
    k8s = KubernetesEmulator({HOST: None}, tick_s=0.1).start()
    k8s.add_node("node-1")
    k8s.apply(
        [
            {
                "kind": "Pod",
                "metadata": {"name": f"sleeper-{i}"},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": HOST,
                            "command": [PY, "-c", "import time; time.sleep(60)"],
                        }
                    ]
                },
            }
            for i in range(2)
        ]
    )
    pids = k8s.wait_for(lambda: len(k8s.running_pids()) == 2 and k8s.running_pids())
    workdir = k8s.workdir
    k8s.stop()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)
    assert not Path(workdir).exists()


IMAGE_MAIN = """
import json, os, sys
try:
    open("/app/written", "w").write("x")
    root_writable = True
except OSError:
    root_writable = False
open("/tmp/scratch", "w").write("x")
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "uid": os.getuid(),
                  "gid": os.getgid(), "env": dict(os.environ), "root_writable": root_writable}))
"""


@needs_runtime
def test_image_entrypoint_cmd_user_and_read_only_root(k8s, tmp_path):
    image_dir = tmp_path / "image"
    (image_dir / "rootfs" / "app").mkdir(parents=True)
    (image_dir / "rootfs" / "app" / "main.py").write_text(IMAGE_MAIN)
    (image_dir / "image.json").write_text(
        json.dumps(
            {
                "env": {
                    "PATH": "/usr/local/bin:/usr/bin:/bin",
                    "FROM_IMAGE": "image",
                    "OVERRIDDEN": "image",
                },
                "workdir": "/app",
                "user": "10001:10001",
                "entrypoint": [SYSTEM_PY],
                "cmd": ["/app/main.py", "from-cmd"],
            }
        )
    )
    image = "ghcr.io/example/rt-lake-rt:0.1.0"
    k8s.images[image] = image_dir

    def pod(name: str, **container) -> dict:
        security = container.pop("pod_security", {})
        return {
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": security,
                "volumes": [{"name": "tmp", "emptyDir": {}}],
                "containers": [
                    {
                        "name": "main",
                        "image": image,
                        "env": [{"name": "OVERRIDDEN", "value": "pod"}],
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        **container,
                    }
                ],
            },
        }

    k8s.apply(
        [
            pod("defaults"),
            pod("args", args=["/app/main.py", "from-args"]),
            pod(
                "command",
                command=[SYSTEM_PY, "/app/main.py", "from-command"],
                securityContext={"readOnlyRootFilesystem": True, "runAsUser": 10002},
            ),
            pod("as-root", pod_security={"runAsNonRoot": True, "runAsUser": 0}),
        ]
    )

    def finished(name: str):
        current = k8s.get("Pod", NS, name)
        return current if current["status"].get("phase") in ("Succeeded", "Failed") else None

    _, core = _apis(k8s)
    reports = {}
    for name in ("defaults", "args", "command"):
        current = k8s.wait_for(lambda n=name: finished(n), what=f"pod {name}")
        log = core.read_namespaced_pod_log(name, NS, _preload_content=False).data
        assert current["status"]["phase"] == "Succeeded", log
        reports[name] = json.loads(log)
    assert reports["defaults"]["argv"] == ["from-cmd"]
    assert reports["args"]["argv"] == ["from-args"]
    assert reports["command"]["argv"] == ["from-command"]
    assert (reports["defaults"]["uid"], reports["defaults"]["gid"]) == (10001, 10001)
    assert reports["command"]["uid"] == 10002
    assert reports["defaults"]["cwd"] == "/app"
    env = reports["defaults"]["env"]
    assert (env["FROM_IMAGE"], env["OVERRIDDEN"], env["PATH"]) == (
        "image",
        "pod",
        "/usr/local/bin:/usr/bin:/bin",
    )
    assert reports["command"]["root_writable"] is False
    assert not (image_dir / "rootfs" / "app" / "written").exists()  # the image is never written

    def config_error():
        statuses = k8s.get("Pod", NS, "as-root")["status"].get("containerStatuses")
        waiting = statuses[0]["state"].get("waiting") if statuses else None
        return waiting if waiting and waiting["reason"] == "CreateContainerConfigError" else None

    assert k8s.wait_for(config_error)["message"].startswith(
        "container has runAsNonRoot and image will run as root"
    )


@needs_runtime
def test_faults_crash_a_pod_and_constrain_the_next_pods_memory(k8s):
    """The rehearsal's faults: a container SIGKILLed in place (exit 137, the Job fails
    with backoffLimit 0) and a container whose cgroup limit is below what it allocates
    (OOMKilled although its spec allows 1Gi); the memory fault applies once."""
    batch, _ = _apis(k8s)
    batch.create_namespaced_job(NS, _job("crashed", "import time; time.sleep(60)"))
    pod = k8s.wait_for(
        lambda: [p for p in _pods(k8s, "crashed") if p["status"].get("phase") == "Running"],
        what="the pod running",
    )[0]
    assert k8s.crash_pod(NS, pod["metadata"]["name"]) == 1
    k8s.wait_for(lambda: _condition(_job_status(k8s, "crashed"), "Failed"), what="job failed")
    (status,) = k8s.get("Pod", NS, pod["metadata"]["name"])["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 137

    hog = "x = bytearray(300 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('done')"
    limited = {"resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}}}

    def job(name: str) -> dict:
        spec = _job(name, hog)
        spec["spec"]["template"]["spec"]["containers"][0].update(limited)
        return spec

    k8s.constrain_next_pod_memory("job-name in (starved, fed)", 64 * 1024 * 1024)
    batch.create_namespaced_job(NS, job("starved"))
    k8s.wait_for(lambda: _condition(_job_status(k8s, "starved"), "Failed"), what="starved failed")
    (starved,) = _pods(k8s, "starved")
    assert starved["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"
    batch.create_namespaced_job(NS, job("fed"))
    k8s.wait_for(lambda: _condition(_job_status(k8s, "fed"), "Complete"), what="fed complete")
