"""resources/pod_diagnosis.py against the Kubernetes API emulator: a step Job whose pod
was OOM-killed is explained as such (dagster-k8s's own message only says the Job failed)."""

from __future__ import annotations

import sys

import kubernetes.client
import pytest

from resources.pod_diagnosis import explain_step_failure, failed_job_name
from tests.k8s_emulator import runtime
from tests.k8s_emulator.apiserver import KubernetesEmulator

HOST = "emulator.test/host-python:1"  # no image: the host's filesystem
NS = "dagster"

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        runtime.runtime_unavailable_reason() is not None,
        reason=f"the emulator's runtime is unavailable: {runtime.runtime_unavailable_reason()}",
    ),
]


def _job(name: str, code: str, memory: str) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "dagster",
                            "image": HOST,
                            "command": [sys.executable, "-c", code],
                            "resources": {"limits": {"memory": memory}},
                        }
                    ],
                },
            },
        },
    }


def test_an_oom_killed_step_pod_is_named_as_such_and_other_errors_add_nothing():
    hog = "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"
    with KubernetesEmulator({HOST: None}, namespaces=(NS,), tick_s=0.1) as k8s:
        k8s.add_node("node-1")
        client = k8s.api_client()
        batch = kubernetes.client.BatchV1Api(client)
        core = kubernetes.client.CoreV1Api(client)
        batch.create_namespaced_job(NS, _job("dagster-step-abc123", hog, "128Mi"))
        batch.create_namespaced_job(NS, _job("dagster-step-def456", "raise SystemExit(3)", "1Gi"))
        for name in ("dagster-step-abc123", "dagster-step-def456"):
            k8s.wait_for(
                lambda n=name: any(
                    c["type"] == "Failed"
                    for c in (k8s.get("Job", NS, n)["status"].get("conditions") or [])
                ),
                timeout=60,
                what=f"{name} failed",
            )
        message = (
            "Step rt__inference failed health check: Discovered failed Kubernetes job "
            "dagster-step-abc123 for step rt__inference."
        )
        assert failed_job_name(message) == "dagster-step-abc123"
        explained = explain_step_failure(message, core, NS)
        assert "container dagster OOMKilled (exit 137, memory limit 128Mi)" in explained
        assert explained.startswith("pod dagster-step-abc123-")

        other = message.replace("abc123", "def456")
        assert "container dagster Error (exit 3)" in explain_step_failure(other, core, NS)
        # Not a health-check failure, or a Job that is gone: nothing to add.
        assert explain_step_failure("ValueError: bad counts", core, NS) == ""
        assert explain_step_failure(message.replace("abc123", "gone99"), core, NS) == ""
        # Outside a cluster (no in-cluster config here): nothing, and no exception.
        assert explain_step_failure(message) == ""
