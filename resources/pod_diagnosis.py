"""Why a step's pod ended, from the Kubernetes API: the reason dagster-k8s leaves out.

dagster-k8s reports a step whose pod died (OOM-killed, evicted, killed) only as "failed
health check: Discovered failed Kubernetes job <job> for step <step>". The run failure
alert (resources/alert_sensors.py) adds what Kubernetes knows about that Job's pods:
each container's termination reason and exit code (``OOMKilled``, exit 137) and the
memory limit it had, or the pod's own reason (``Evicted``). It reads the pods with the
code location's service account (the chart's Role grants get/list on pods); outside a
cluster, or once the Job's TTL has removed them, there is nothing to add.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

HEALTH_CHECK_FAILURE = re.compile(r"Discovered failed Kubernetes job (?P<job>[a-z0-9][a-z0-9.-]*)")
# Where Kubernetes mounts the pod's own namespace (as load_incluster_config reads it).
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def failed_job_name(error: str) -> str | None:
    """The step Job named by dagster-k8s's health-check failure message, if it is one."""
    match = HEALTH_CHECK_FAILURE.search(error or "")
    return match.group("job").rstrip(".") if match else None


def pod_end_reasons(pods: list[Any]) -> list[str]:
    """One line per ended container (or evicted pod) of ``pods`` (kubernetes client
    ``V1Pod`` models): ``pod <name>: container dagster OOMKilled (exit 137, memory limit
    2Gi)``."""
    reasons = []
    for pod in pods:
        name = pod.metadata.name
        limits = {c.name: (c.resources and c.resources.limits) or {} for c in pod.spec.containers}
        for container in pod.status.container_statuses or []:
            ended = container.state and container.state.terminated
            if not ended or ended.exit_code == 0:
                continue
            detail = f"exit {ended.exit_code}"
            memory = limits.get(container.name, {}).get("memory")
            if ended.reason == "OOMKilled" and memory:
                detail += f", memory limit {memory}"
            reasons.append(f"pod {name}: container {container.name} {ended.reason} ({detail})")
        if pod.status.reason:  # the pod itself: Evicted, DeadlineExceeded ...
            reasons.append(f"pod {name}: {pod.status.reason}: {pod.status.message or ''}")
    return reasons


def explain_step_failure(error: str, core_api: Any = None, namespace: str | None = None) -> str:
    """What Kubernetes says about the pods of the step Job named in ``error`` ("" when
    ``error`` is not dagster-k8s's health-check failure, or nothing can be read)."""
    job = failed_job_name(error)
    if job is None:
        return ""
    try:
        if core_api is None:
            import kubernetes

            kubernetes.config.load_incluster_config()
            core_api = kubernetes.client.CoreV1Api()
            namespace = NAMESPACE_FILE.read_text().strip()
        pods = core_api.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    except Exception:  # not in a cluster, no permission, API down: the alert goes anyway
        return ""
    return "; ".join(pod_end_reasons(pods))
