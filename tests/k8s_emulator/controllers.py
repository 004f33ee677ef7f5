"""The control plane's behaviour: admission and defaulting, deletion with garbage
collection, and the Job, ReplicaSet/Deployment, TTL-after-finished and scheduling loops.

Deletion follows the apiserver and the garbage collector: ``Orphan`` strips the owner's
reference from its dependents and leaves them running; ``Background`` and ``Foreground``
delete the dependents too (here at once, recursively). batch/v1 Jobs deleted through the
API without a propagation policy orphan their pods, as on a real cluster.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from decimal import Decimal
from typing import Any

from .kubelet import Kubelet
from .scheduler import choose_node, container_requests, parse_quantity, pod_requests
from .store import (
    KINDS,
    ApiError,
    EventRecorder,
    Store,
    invalid,
    is_dns_label,
    is_dns_subdomain,
    now_utc,
    parse_rfc3339,
    rfc3339,
    selector_matches,
)

JOB_TRACKING_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": KINDS[owner["kind"]].api_version,
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _owned_by(obj: dict[str, Any], owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or [])


def _condition_true(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the (defaulted) requests and limits."""
    any_set = False
    guaranteed = True
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        any_set = any_set or bool(requests or limits)
        for resource in ("cpu", "memory"):
            if (
                resource not in limits
                or resource not in requests
                or parse_quantity(requests[resource]) != parse_quantity(limits[resource])
            ):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class ControlPlane:
    def __init__(
        self,
        store: Store,
        events: EventRecorder,
        kubelet: Kubelet,
        *,
        job_backoff_s: float,
    ) -> None:
        self.store = store
        self.events = events
        self.kubelet = kubelet
        self.job_backoff_s = job_backoff_s
        # job uid -> pod uids seen, pod uids already counted as succeeded/failed
        self._job_pods: dict[str, dict[str, set[str]]] = {}
        self._job_next_pod: dict[str, float] = {}
        self._reported: dict[tuple[str, str], str] = {}
        # pod uid -> (monotonic time its grace period ends, propagation) while terminating
        self._terminating: dict[str, tuple[float, str]] = {}

    # --- admission -----------------------------------------------------------------------------

    def require_namespace(self, namespace: str) -> None:
        if self.store.get("Namespace", "", namespace) is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )

    def validate_pod_spec(self, spec: dict[str, Any], field: str) -> list[tuple[str, str]]:
        causes: list[tuple[str, str]] = []
        containers = spec.get("containers") or []
        if not containers:
            causes.append((f"{field}.containers", "Required value"))
        names = set()
        for index, container in enumerate(containers):
            where = f"{field}.containers[{index}]"
            name = container.get("name") or ""
            if not is_dns_label(name):
                causes.append(
                    (
                        f"{where}.name",
                        f'Invalid value: "{name}": a lowercase RFC 1123 '
                        "label must consist of lower case alphanumeric "
                        "characters or '-'",
                    )
                )
            if name in names:
                causes.append((f"{where}.name", f'Duplicate value: "{name}"'))
            names.add(name)
            if not container.get("image"):
                causes.append((f"{where}.image", "Required value"))
            volumes = {v.get("name") for v in spec.get("volumes") or []}
            for m_index, mount in enumerate(container.get("volumeMounts") or []):
                if mount.get("name") not in volumes:
                    causes.append(
                        (
                            f"{where}.volumeMounts[{m_index}].name",
                            f'Not found: "{mount.get("name")}"',
                        )
                    )
                if not str(mount.get("mountPath", "")).startswith("/"):
                    causes.append(
                        (
                            f"{where}.volumeMounts[{m_index}].mountPath",
                            "Invalid value: must be an absolute path",
                        )
                    )
            for resources_kind in ("requests", "limits"):
                for resource, amount in (
                    (container.get("resources") or {}).get(resources_kind) or {}
                ).items():
                    try:
                        container_requests({"resources": {"requests": {resource: amount}}})
                    except ValueError as error:
                        causes.append(
                            (
                                f"{where}.resources.{resources_kind}[{resource}]",
                                f"Invalid value: {error}",
                            )
                        )
        # What the emulator would otherwise silently ignore is refused, loudly.
        affinity = spec.get("affinity") or {}
        unsupported = [
            *(
                key
                for key in ("initContainers", "ephemeralContainers", "topologySpreadConstraints")
                if spec.get(key)
            ),
            *(f"affinity.{key}" for key in ("podAffinity", "podAntiAffinity") if affinity.get(key)),
        ]
        causes += [(f"{field}.{key}", "Forbidden: emulator: not supported") for key in unsupported]
        policy = spec.get("restartPolicy")
        if policy not in (None, "Always", "OnFailure", "Never"):
            causes.append((f"{field}.restartPolicy", f'Unsupported value: "{policy}"'))
        return causes

    @staticmethod
    def default_pod_spec(spec: dict[str, Any]) -> None:
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
        spec["serviceAccount"] = spec["serviceAccountName"]
        for container in spec.get("containers") or []:
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            image = container.get("image") or ""
            tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
            container.setdefault(
                "imagePullPolicy",
                "IfNotPresent" if tagged and not image.endswith(":latest") else "Always",
            )
            resources = container.setdefault("resources", {})
            limits = resources.get("limits") or {}
            if limits:
                requests = resources.setdefault("requests", {})
                for name, amount in limits.items():
                    requests.setdefault(name, amount)

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        """Admission (validation, defaulting, ServiceAccount lookup) and storage."""
        pod["kind"] = "Pod"
        metadata = pod.setdefault("metadata", {})
        namespace = metadata.setdefault("namespace", "default")
        name = metadata.get("name") or metadata.get("generateName") or ""
        self.require_namespace(namespace)
        spec = pod.setdefault("spec", {})
        causes = self.validate_pod_spec(spec, "spec")
        if metadata.get("name") and not is_dns_subdomain(metadata["name"]):
            causes.insert(0, ("metadata.name", f'Invalid value: "{metadata["name"]}"'))
        if causes:
            raise invalid(KINDS["Pod"], name, causes)
        self.default_pod_spec(spec)
        account = spec["serviceAccountName"]
        if self.store.get("ServiceAccount", namespace, account) is None:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: error looking up service account '
                f'{namespace}/{account}: serviceaccount "{account}" not found',
                {"name": name, "kind": "pods"},
            )
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        return self.store.create(pod)

    def create_job(self, job: dict[str, Any]) -> dict[str, Any]:
        job["kind"] = "Job"
        metadata = job.setdefault("metadata", {})
        namespace = metadata.setdefault("namespace", "default")
        name = metadata.get("name") or ""
        self.require_namespace(namespace)
        kind = KINDS["Job"]
        causes: list[tuple[str, str]] = []
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif not is_dns_label(name):
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 label '
                    "must consist of lower case alphanumeric characters "
                    "or '-', and must be no more than 63 characters",
                )
            )
        spec = job.setdefault("spec", {})
        template = spec.setdefault("template", {})
        pod_spec = template.setdefault("spec", {})
        causes += self.validate_pod_spec(pod_spec, "spec.template.spec")
        policy = pod_spec.get("restartPolicy")
        if policy is None:
            causes.append(
                (
                    "spec.template.spec.restartPolicy",
                    'Required value: valid values: "OnFailure", "Never"',
                )
            )
        elif policy not in ("OnFailure", "Never"):
            causes.append(
                (
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                )
            )
        for field_name in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            value = spec.get(field_name)
            if value is not None and (not isinstance(value, int) or value < 0):
                causes.append(
                    (
                        f"spec.{field_name}",
                        f"Invalid value: {value}: must be greater than or equal to 0",
                    )
                )
        for key in ("podFailurePolicy", "successPolicy", "backoffLimitPerIndex", "managedBy"):
            if spec.get(key) is not None:
                causes.append((f"spec.{key}", "Forbidden: emulator: not supported"))
        if spec.get("completionMode", "NonIndexed") != "NonIndexed":
            causes.append(("spec.completionMode", "Forbidden: emulator: only NonIndexed"))
        if causes:
            raise invalid(kind, name, causes)
        self.default_pod_spec(pod_spec)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        job["status"] = {}
        stored = self.store.create(job)
        uid = stored["metadata"]["uid"]
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )
        if not metadata.get("labels"):
            metadata["labels"] = dict(labels)
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        spec.setdefault("manualSelector", False)
        self.store.touch(stored)
        return stored

    # --- deletion and garbage collection -------------------------------------------------------

    def delete(
        self, obj: dict[str, Any], propagation: str = "Background", grace: int | None = None
    ) -> None:
        """Delete ``obj``. A pod whose containers run is deleted gracefully, as the kubelet
        does: ``deletionTimestamp`` is set, its containers get SIGTERM, and it is removed
        once they have ended or after its grace period (then SIGKILL): ``grace`` seconds,
        else the pod's ``terminationGracePeriodSeconds`` (default 30). 0 kills at once."""
        with self.store.lock:
            uid = obj["metadata"]["uid"]
            if self.store.by_uid(uid) is not obj:
                return
            if obj["kind"] == "Pod" and self._terminate_gracefully(obj, propagation, grace):
                return
            dependents = self.store.dependents(uid)
            if propagation == "Orphan":
                for dependent in dependents:
                    dependent["metadata"]["ownerReferences"] = [
                        ref
                        for ref in dependent["metadata"].get("ownerReferences") or []
                        if ref.get("uid") != uid
                    ]
                    self.store.touch(dependent)
                dependents = []
            if propagation == "Foreground":
                self._collect(dependents, uid)
            if obj["kind"] == "Pod":
                self.kubelet.kill_pod(obj)
            self.store.remove(obj)
            self._job_pods.pop(uid, None)
            self._job_next_pod.pop(uid, None)
            if propagation == "Background":
                self._collect(dependents, uid)

    def _terminate_gracefully(
        self, pod: dict[str, Any], propagation: str, grace: int | None
    ) -> bool:
        """Start (or shorten) a graceful deletion; False when the pod goes at once."""
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        metadata = pod["metadata"]
        if grace <= 0 or not self.kubelet.running_containers(pod):
            return False
        deadline = time.monotonic() + grace
        if uid_deadline := self._terminating.get(metadata["uid"]):
            deadline = min(deadline, uid_deadline[0])
        else:
            metadata["deletionTimestamp"] = rfc3339()
            metadata["deletionGracePeriodSeconds"] = grace
            self.store.touch(pod)
            self.kubelet.terminate_pod(pod)
        self._terminating[metadata["uid"]] = (deadline, propagation)
        return True

    def finish_terminating(self) -> None:
        """Remove each gracefully deleted pod whose containers have ended; SIGKILL those
        whose grace period is over."""
        for uid, (deadline, propagation) in list(self._terminating.items()):
            pod = self.store.by_uid(uid)
            if pod is None:
                self._terminating.pop(uid, None)
                continue
            if self.kubelet.running_containers(pod) and time.monotonic() < deadline:
                continue
            self._terminating.pop(uid, None)
            self.delete(pod, propagation, grace=0)

    def _collect(self, dependents: list[dict[str, Any]], owner_uid: str) -> None:
        """Delete each dependent whose owners are now all gone."""
        for dependent in dependents:
            refs = dependent["metadata"].get("ownerReferences") or []
            alive = [
                ref
                for ref in refs
                if ref.get("uid") != owner_uid and self.store.by_uid(ref.get("uid", ""))
            ]
            if alive:
                dependent["metadata"]["ownerReferences"] = [
                    ref for ref in refs if ref.get("uid") != owner_uid
                ]
                self.store.touch(dependent)
            else:
                self.delete(dependent, "Background")

    def collect_garbage(self) -> None:
        """Dependents whose owners no longer exist (owner deleted elsewhere, dangling uid)."""
        for obj in self.store.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if refs and not any(self.store.by_uid(ref.get("uid", "")) for ref in refs):
                self.delete(obj, "Background")

    # --- the loops -----------------------------------------------------------------------------

    def tick(self) -> None:
        with self.store.lock:
            self.collect_garbage()
            self.finish_terminating()
            self.sync_deployments()
            self.sync_replica_sets()
            self.sync_jobs()
            self.expire_finished_jobs()
            self.schedule()

    def _report(
        self, obj: dict[str, Any], reason: str, message: str, *, warning: bool, component: str
    ) -> None:
        """An event, recorded once per distinct message (not once per loop tick)."""
        key = (obj["metadata"]["uid"], reason)
        if self._reported.get(key) != message:
            self._reported[key] = message
            self.events.record(obj, reason, message, warning=warning, component=component)

    # Jobs

    def _job_pod(self, job: dict[str, Any]) -> dict[str, Any]:
        template = copy.deepcopy(job["spec"]["template"])
        metadata = template.get("metadata") or {}
        name = job["metadata"]["name"]
        return {
            "kind": "Pod",
            "metadata": {
                "generateName": f"{name}-",
                "namespace": job["metadata"]["namespace"],
                "labels": dict(metadata.get("labels") or {}),
                "annotations": dict(metadata.get("annotations") or {}),
                "ownerReferences": [_owner_reference(job)],
            },
            "spec": template["spec"],
        }

    def sync_jobs(self) -> None:
        now = time.monotonic()
        for job in self.store.list("Job"):
            if _condition_true(job, "Complete") or _condition_true(job, "Failed"):
                continue
            spec = job["spec"]
            uid = job["metadata"]["uid"]
            status = job.setdefault("status", {})
            before = json.dumps(status, sort_keys=True)
            if spec.get("suspend"):
                continue
            status.setdefault("startTime", rfc3339())
            tracking = self._job_pods.setdefault(uid, {"seen": set(), "counted": set()})
            pods = [
                p for p in self.store.list("Pod", job["metadata"]["namespace"]) if _owned_by(p, uid)
            ]
            succeeded, failed = status.get("succeeded", 0), status.get("failed", 0)
            present = set()
            for pod in pods:
                pod_uid = pod["metadata"]["uid"]
                present.add(pod_uid)
                tracking["seen"].add(pod_uid)
                phase = pod["status"].get("phase")
                if pod["metadata"].get("deletionTimestamp") and phase != "Succeeded":
                    phase = "Failed"  # a terminating pod is replaced, as by default
                if pod_uid not in tracking["counted"] and phase in ("Succeeded", "Failed"):
                    tracking["counted"].add(pod_uid)
                    if phase == "Succeeded":
                        succeeded += 1
                    else:
                        failed += 1
                        self._job_next_pod[uid] = now + self._job_backoff(failed)
            # A pod deleted before it finished counts as failed (pod tracking finalizers).
            for vanished in tracking["seen"] - present - tracking["counted"]:
                tracking["counted"].add(vanished)
                failed += 1
            active = [
                p
                for p in pods
                if p["status"].get("phase") in ("Pending", "Running")
                and not p["metadata"].get("deletionTimestamp")
            ]
            completions = spec.get("completions") or 1
            started = parse_rfc3339(status["startTime"])
            deadline = spec.get("activeDeadlineSeconds")
            outcome: tuple[str, str, str] | None = None
            if succeeded >= completions:
                outcome = (
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                )
            elif failed > spec.get("backoffLimit", 6):
                outcome = (
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
            elif deadline is not None and (now_utc() - started).total_seconds() >= deadline:
                outcome = (
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            if outcome and outcome[0] == "Failed":
                for pod in active:
                    self.events.record(
                        job,
                        "SuccessfulDelete",
                        f"Deleted pod: {pod['metadata']['name']}",
                        component="job-controller",
                    )
                    self.delete(pod, "Background")
                    tracking["counted"].add(pod["metadata"]["uid"])
                    failed += 1
                active = []
            elif not outcome:
                wanted = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
                if wanted > 0 and now >= self._job_next_pod.get(uid, 0.0):
                    for _ in range(wanted):
                        created = self._create_job_pod(job)
                        if created is None:
                            break
                        active.append(created)
            self._set_job_counts(status, active, succeeded, failed)
            if outcome:
                self._finish_job(job, *outcome)
            if json.dumps(status, sort_keys=True) != before:
                self.store.touch(job)

    def _job_backoff(self, failures: int) -> float:
        return min(self.job_backoff_s * 2 ** max(failures - 1, 0), 360.0)

    def _create_job_pod(self, job: dict[str, Any]) -> dict[str, Any] | None:
        try:
            pod = self.create_pod(self._job_pod(job))
        except ApiError as error:
            self._report(
                job,
                "FailedCreate",
                f"Error creating: {error.message}",
                warning=True,
                component="job-controller",
            )
            return None
        self.events.record(
            job,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            component="job-controller",
        )
        return pod

    @staticmethod
    def _set_job_counts(
        status: dict[str, Any], active: list[dict[str, Any]], succeeded: int, failed: int
    ) -> None:
        # Zero counts are omitted from a Job's status on a real cluster (omitempty).
        for key, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[key] = value
            else:
                status.pop(key, None)
        status["ready"] = sum(
            1
            for pod in active
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in pod["status"].get("conditions") or []
            )
        )
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}

    def _finish_job(self, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        status = job["status"]
        now = rfc3339()
        interim = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
        status["conditions"] = [
            *(status.get("conditions") or []),
            *(
                {
                    "type": t,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                }
                for t in (interim, kind)
            ),
        ]
        if kind == "Complete":
            status["completionTime"] = now
            self.events.record(job, "Completed", "Job completed", component="job-controller")
        else:
            self.events.record(job, reason, message, warning=True, component="job-controller")

    def expire_finished_jobs(self) -> None:
        for job in self.store.list("Job"):
            ttl = job["spec"].get("ttlSecondsAfterFinished")
            finished = _condition_true(job, "Complete") or _condition_true(job, "Failed")
            if ttl is None or not finished:
                continue
            finished_at = parse_rfc3339(finished["lastTransitionTime"])
            if (now_utc() - finished_at).total_seconds() >= ttl:
                self.delete(job, "Foreground")

    # Deployments and ReplicaSets

    def sync_deployments(self) -> None:
        for deployment in self.store.list("Deployment"):
            spec = deployment["spec"]
            namespace = deployment["metadata"]["namespace"]
            template = spec.get("template") or {}
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
            alphabet = "bcdfghjklmnpqrstvwxz2456789"
            template_hash = "".join(
                alphabet[int(digest[i : i + 2], 16) % len(alphabet)] for i in range(0, 20, 2)
            )
            name = f"{deployment['metadata']['name']}-{template_hash}"
            owned = [
                rs
                for rs in self.store.list("ReplicaSet", namespace)
                if _owned_by(rs, deployment["metadata"]["uid"])
            ]
            for old in owned:
                if old["metadata"]["name"] != name:  # a new template: Recreate the pods
                    self.delete(old, "Background")
            current = self.store.get("ReplicaSet", namespace, name)
            replicas = spec.get("replicas", 1)
            if current is None:
                rs_template = copy.deepcopy(template)
                labels = rs_template.setdefault("metadata", {}).setdefault("labels", {})
                labels["pod-template-hash"] = template_hash
                current = self.store.create(
                    {
                        "kind": "ReplicaSet",
                        "metadata": {
                            "name": name,
                            "namespace": namespace,
                            "labels": dict(labels),
                            "ownerReferences": [_owner_reference(deployment)],
                        },
                        "spec": {
                            "replicas": replicas,
                            "selector": spec.get("selector"),
                            "template": rs_template,
                        },
                        "status": {},
                    }
                )
                self.events.record(
                    deployment,
                    "ScalingReplicaSet",
                    f"Scaled up replica set {name} from 0 to {replicas}",
                    component="deployment-controller",
                )
            elif current["spec"]["replicas"] != replicas:
                current["spec"]["replicas"] = replicas
                self.store.touch(current)
            rs_status = current.get("status") or {}
            status = {
                "observedGeneration": deployment["metadata"].get("generation", 1),
                "replicas": rs_status.get("replicas", 0),
                "updatedReplicas": rs_status.get("replicas", 0),
                "readyReplicas": rs_status.get("readyReplicas", 0),
                "availableReplicas": rs_status.get("readyReplicas", 0),
            }
            available = status["availableReplicas"] >= replicas
            status["conditions"] = [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable"
                    if available
                    else "MinimumReplicasUnavailable",
                }
            ]
            if deployment.get("status") != status:
                deployment["status"] = status
                self.store.touch(deployment)

    def sync_replica_sets(self) -> None:
        for rs in self.store.list("ReplicaSet"):
            uid = rs["metadata"]["uid"]
            namespace = rs["metadata"]["namespace"]
            pods = [
                p
                for p in self.store.list("Pod", namespace)
                if _owned_by(p, uid)
                and p["status"].get("phase") not in ("Succeeded", "Failed")
                and not p["metadata"].get("deletionTimestamp")
                and selector_matches(rs["spec"].get("selector"), p["metadata"].get("labels") or {})
            ]
            wanted = rs["spec"].get("replicas", 1)
            for _ in range(wanted - len(pods)):
                template = copy.deepcopy(rs["spec"]["template"])
                metadata = template.get("metadata") or {}
                try:
                    pod = self.create_pod(
                        {
                            "kind": "Pod",
                            "metadata": {
                                "generateName": f"{rs['metadata']['name']}-",
                                "namespace": namespace,
                                "labels": dict(metadata.get("labels") or {}),
                                "annotations": dict(metadata.get("annotations") or {}),
                                "ownerReferences": [_owner_reference(rs)],
                            },
                            "spec": template["spec"],
                        }
                    )
                except ApiError as error:
                    self._report(
                        rs,
                        "FailedCreate",
                        f"Error creating: {error.message}",
                        warning=True,
                        component="replicaset-controller",
                    )
                    break
                pods.append(pod)
                self.events.record(
                    rs,
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )
            for extra in pods[wanted:]:
                self.delete(extra, "Background")
            ready = sum(
                1
                for p in pods[:wanted]
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in p["status"].get("conditions") or []
                )
            )
            status = {
                "replicas": min(len(pods), wanted),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": 1,
            }
            if rs.get("status") != status:
                rs["status"] = status
                self.store.touch(rs)

    # Scheduling

    def schedule(self) -> None:
        pods = self.store.list("Pod")
        nodes = [n for n in self.store.list("Node")]
        usage: dict[str, dict[str, Decimal]] = {}
        counts: dict[str, int] = {}
        for pod in pods:
            node = pod["spec"].get("nodeName")
            if node and pod["status"].get("phase") not in ("Succeeded", "Failed"):
                counts[node] = counts.get(node, 0) + 1
                for resource, amount in pod_requests(pod["spec"]).items():
                    used = usage.setdefault(node, {})
                    used[resource] = used.get(resource, Decimal(0)) + amount
        pending = sorted(
            (
                p
                for p in pods
                if not p["spec"].get("nodeName")
                and p["status"].get("phase") == "Pending"
                and p["spec"].get("schedulerName", "default-scheduler") == "default-scheduler"
            ),
            key=self.store.creation_order,
        )
        for pod in pending:
            node, message = choose_node(pod, nodes, usage, counts)
            conditions = [
                c for c in pod["status"].get("conditions") or [] if c.get("type") != "PodScheduled"
            ]
            now = rfc3339()
            if node is None:
                condition = {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                }
                previous = next(
                    (
                        c
                        for c in pod["status"].get("conditions") or []
                        if c.get("type") == "PodScheduled"
                    ),
                    None,
                )
                if previous and previous.get("message") == message:
                    continue
                pod["status"]["conditions"] = [*conditions, condition]
                self.store.touch(pod)
                self._report(
                    pod, "FailedScheduling", message, warning=True, component="default-scheduler"
                )
                continue
            name = node["metadata"]["name"]
            pod["spec"]["nodeName"] = name
            pod["status"]["conditions"] = [
                *conditions,
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                },
            ]
            self.store.touch(pod)
            counts[name] = counts.get(name, 0) + 1
            for resource, amount in pod_requests(pod["spec"]).items():
                used = usage.setdefault(name, {})
                used[resource] = used.get(resource, Decimal(0)) + amount
            self.events.record(
                pod,
                "Scheduled",
                f"Successfully assigned {pod['metadata']['namespace']}/"
                f"{pod['metadata']['name']} to {name}",
                component="default-scheduler",
            )
