"""The kubelet: turns scheduled pods into container processes and reports their status.

For each container it builds a :class:`runtime.ContainerSpec` from scratch, the way a
kubelet and container runtime together would:

* environment: the image's ``ENV``, ``HOSTNAME``, the ``KUBERNETES_SERVICE_*`` variables,
  then ``envFrom``, then ``env`` (``value`` with ``$(VAR)`` expansion, ``valueFrom``
  secretKeyRef / configMapKeyRef / fieldRef / resourceFieldRef). A missing ConfigMap,
  Secret or key leaves the container waiting in ``CreateContainerConfigError``.
* argv: ``command`` replaces the image ENTRYPOINT (and drops its CMD); ``args`` replaces CMD.
* user: ``runAsUser``/``runAsGroup`` (container over pod), else the image's USER.
* volumes: configMap / secret keys written to files, emptyDir, the ServiceAccount's token
  directory; bound with ``mountPath`` / ``subPath`` / ``readOnly``.

An image missing from the emulator's image map leaves the container in ``ErrImagePull`` /
``ImagePullBackOff``, as a cluster does, rather than running something else.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from base64 import b64decode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from .scheduler import memory_bytes, parse_quantity
from .store import (
    EventRecorder,
    Store,
    dig,
    now_utc,
    parse_label_selector,
    parse_rfc3339,
    rfc3339,
)

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_POD_DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """The container cannot be configured yet (``CreateContainerConfigError``)."""


class MountError(Exception):
    """A volume cannot be set up yet (``FailedMount``; the pod stays ``ContainerCreating``)."""


@dataclass
class Image:
    ref: str
    directory: Path | None
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = ""
    user: str = ""
    entrypoint: list[str] | None = None
    cmd: list[str] = field(default_factory=list)
    image_id: str = ""

    @classmethod
    def load(cls, ref: str, directory: Path | None) -> Image:
        if directory is None:
            return cls(ref, None)
        raw = (directory / "image.json").read_bytes()
        config = json.loads(raw)
        return cls(
            ref,
            directory,
            env=dict(config.get("env") or {}),
            workdir=config.get("workdir") or "",
            user=str(config.get("user") or ""),
            entrypoint=config.get("entrypoint"),
            cmd=list(config.get("cmd") or []),
            image_id=f"sha256:{hashlib.sha256(raw).hexdigest()}",
        )

    def lookup_id(self, database: str, name: str) -> tuple[int, int | None] | None:
        """uid (and primary gid) of ``name`` in the image's /etc/passwd or /etc/group."""
        if self.directory is None:
            return None
        try:
            lines = (self.directory / "rootfs" / "etc" / database).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == name:
                return int(fields[2]), int(fields[3]) if database == "passwd" else None
        return None


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names are replaced, ``$$`` escapes a ``$``."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
            continue
        if text.startswith("$(", index):
            end = text.find(")", index + 2)
            if end != -1:
                name = text[index + 2 : end]
                out.append(variables.get(name, text[index : end + 1]))
                index = end + 1
                continue
        out.append(text[index])
        index += 1
    return "".join(out)


def _decode_secret(data: Mapping[str, str]) -> dict[str, str]:
    return {key: b64decode(value).decode("utf-8", "surrogateescape") for key, value in data.items()}


@dataclass
class ContainerRun:
    """What the kubelet knows about one container of a pod."""

    name: str
    image: str
    restart_count: int = 0
    process: Any = None  # runtime.ContainerProcess
    log_path: Path | None = None
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    image_id: str = ""
    container_id: str = ""
    next_start: float = 0.0  # monotonic time before which a restart waits (back-off)
    pull_attempts: int = 0
    reported: str = ""  # last waiting message reported as an event (no repeats per tick)

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> dict[str, Any] | None:
        return self.state.get("terminated")


@dataclass
class PodRun:
    uid: str
    directory: Path
    containers: dict[str, ContainerRun]
    volumes: dict[str, Path] | None = None
    start_time: str = field(default_factory=rfc3339)
    mount_error: str = ""
    deadline_exceeded: bool = False


class Kubelet:
    def __init__(
        self,
        store: Store,
        events: EventRecorder,
        images: Mapping[str, Path | None],
        workdir: Path,
        service_env: Callable[[], dict[str, str]],
        service_account_dir: Callable[[str, str], Path | None],
        runtime: Callable[[], ModuleType],
        crash_backoff_s: float,
    ) -> None:
        self._store = store
        self._events = events
        self.images = images
        self._workdir = workdir
        self._service_env = service_env
        self._service_account_dir = service_account_dir
        self._runtime = runtime
        self._crash_backoff_s = crash_backoff_s
        self._pods: dict[str, PodRun] = {}
        self._image_cache: dict[tuple[str, Path | None], Image] = {}
        self._tick_lock = threading.Lock()
        # Fault injection (tests only): label selector -> cgroup memory limit in bytes for
        # the next container started in a pod it matches (consumed once).
        self._memory_faults: list[tuple[str, int]] = []

    # --- faults, for tests ---------------------------------------------------------------------

    def constrain_next_pod_memory(self, label_selector: str, limit_bytes: int) -> None:
        """The next container started in a pod matching ``label_selector`` gets a cgroup
        memory limit of ``limit_bytes`` instead of its spec's: a step that needs more
        than its limit, whatever the limit is."""
        with self._store.lock:
            self._memory_faults.append((label_selector, limit_bytes))

    def crash_pod(self, pod: dict[str, Any]) -> int:
        """SIGKILL the pod's running containers without deleting the pod (a crash, a node
        reclaiming memory): they end with exit code 137. Returns how many were killed."""
        run = self._pods.get(pod["metadata"]["uid"])
        killed = 0
        for crun in run.containers.values() if run else ():
            if crun.process is not None and crun.process.poll() is None:
                crun.process.kill()
                killed += 1
        return killed

    def _memory_fault(self, pod: dict[str, Any]) -> int | None:
        labels = pod["metadata"].get("labels") or {}
        for index, (selector, limit) in enumerate(self._memory_faults):
            if all(r.matches(labels) for r in parse_label_selector(selector)):
                del self._memory_faults[index]
                return limit
        return None

    # --- the loop ------------------------------------------------------------------------------

    def tick(self) -> None:
        with self._tick_lock:
            with self._store.lock:
                pods = [
                    pod
                    for pod in self._store.list("Pod")
                    if (pod.get("spec") or {}).get("nodeName")
                    and pod["status"].get("phase") in ("Pending", "Running")
                ]
                starts = [start for pod in pods for start in self._sync(pod)]
            for pod_uid, run, spec in starts:
                self._start(pod_uid, run, spec)

    def _sync(self, pod: dict[str, Any]) -> list[tuple[str, ContainerRun, Any]]:
        """Poll the pod's processes, prepare whatever should start; returns what to start."""
        uid = pod["metadata"]["uid"]
        run = self._pods.get(uid)
        if run is None:
            run = PodRun(
                uid,
                self._pod_directory(pod),
                {
                    c["name"]: ContainerRun(c["name"], c.get("image", ""))
                    for c in pod["spec"]["containers"]
                },
            )
            self._pods[uid] = run
        starts = []
        if run.volumes is None:
            try:
                run.volumes = self._prepare_volumes(pod, run)
            except MountError as error:
                if str(error) != run.mount_error:
                    run.mount_error = str(error)
                    self._event(pod, "FailedMount", str(error), warning=True)
        self._enforce_deadline(pod, run)
        for container in pod["spec"]["containers"]:
            crun = run.containers[container["name"]]
            if crun.process is not None:
                self._poll(pod, container, crun)
            if (
                crun.process is None
                and run.volumes is not None
                and not run.deadline_exceeded
                and not pod["metadata"].get("deletionTimestamp")
                and self._should_start(pod, crun)
            ):
                spec = self._prepare(pod, container, crun, run)
                if spec is not None:
                    starts.append((uid, crun, spec))
        self._write_status(pod, run)
        return starts

    def _enforce_deadline(self, pod: dict[str, Any], run: PodRun) -> None:
        """The pod's own ``activeDeadlineSeconds``: its containers are killed, the pod fails."""
        deadline = pod["spec"].get("activeDeadlineSeconds")
        if deadline is None or run.deadline_exceeded:
            return
        if (now_utc() - parse_rfc3339(run.start_time)).total_seconds() < deadline:
            return
        run.deadline_exceeded = True
        self._event(pod, "DeadlineExceeded", _POD_DEADLINE_MESSAGE, warning=True)
        for crun in run.containers.values():
            if crun.process is not None:
                self._event(pod, "Killing", f"Stopping container {crun.name}")
                crun.process.kill()

    def _should_start(self, pod: dict[str, Any], crun: ContainerRun) -> bool:
        terminated = crun.terminated
        if terminated is None:
            return time.monotonic() >= crun.next_start
        policy = pod["spec"].get("restartPolicy") or "Always"
        if policy == "Never" or (policy == "OnFailure" and terminated["exitCode"] == 0):
            return False
        # Restart after a back-off, as a kubelet does; "CrashLoopBackOff" meanwhile.
        if time.monotonic() < crun.next_start:
            crun.last_state = {"terminated": terminated}
            crun.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {self._backoff(crun):.0f}s restarting failed container="
                    f"{crun.name} pod={pod['metadata']['name']}_"
                    f"{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                }
            }
            return False
        crun.last_state = {"terminated": terminated}
        crun.restart_count += 1
        crun.state = {"waiting": {"reason": "ContainerCreating"}}
        return True

    def _backoff(self, crun: ContainerRun) -> float:
        return min(self._crash_backoff_s * 2**crun.restart_count, 300.0)

    def _poll(self, pod: dict[str, Any], container: dict[str, Any], crun: ContainerRun) -> None:
        status = crun.process.poll()
        if status is None:
            return
        crun.process = None
        terminated: dict[str, Any] = {
            "exitCode": status.exit_code,
            "reason": status.reason,
            "startedAt": rfc3339(status.started_at),
            "finishedAt": rfc3339(status.finished_at),
            "containerID": crun.container_id,
        }
        if status.exit_code != 0 and container.get("terminationMessagePolicy") == (
            "FallbackToLogsOnError"
        ):
            terminated["message"] = self._log_tail_message(crun)
        crun.state = {"terminated": terminated}
        crun.next_start = time.monotonic() + self._backoff(crun)
        if status.reason == "OOMKilled":
            self._event(
                pod,
                "OOMKilled",
                f"Container {crun.name} was OOM-killed (memory limit "
                f"{dig(container, 'resources.limits.memory')})",
                warning=True,
            )

    @staticmethod
    def _log_tail_message(crun: ContainerRun) -> str:
        if crun.log_path is None or not crun.log_path.exists():
            return ""
        lines = crun.log_path.read_text(errors="replace").splitlines()[-80:]
        text = "\n".join(line.partition(" ")[2] for line in lines)
        return text[-2048:]

    # --- preparing a container -----------------------------------------------------------------

    def _prepare(
        self, pod: dict[str, Any], container: dict[str, Any], crun: ContainerRun, run: PodRun
    ) -> Any | None:
        ref = container.get("image", "")
        if ref not in self.images:
            self._image_pull_failed(pod, crun, ref)
            return None
        image = self._image(ref, self.images[ref])
        if crun.pull_attempts == 0 or crun.image_id != image.image_id:
            crun.pull_attempts = 1
            self._event(
                pod,
                "Pulled",
                f'Container image "{ref}" already present on machine',
                container=crun.name,
            )
        crun.image_id = image.image_id
        try:
            spec = self._container_spec(pod, container, crun, run, image)
        except ConfigError as error:
            message = str(error)
            crun.state = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
            if crun.reported != message:
                crun.reported = message
                self._event(pod, "Failed", f"Error: {message}", warning=True, container=crun.name)
            return None
        crun.reported = ""
        crun.state = {"waiting": {"reason": "ContainerCreating"}}
        return spec

    def _image_pull_failed(self, pod: dict[str, Any], crun: ContainerRun, ref: str) -> None:
        crun.pull_attempts += 1
        if crun.pull_attempts == 1:
            crun.state = {
                "waiting": {
                    "reason": "ErrImagePull",
                    "message": f'emulator: image "{ref}" is not in the emulator\'s image map',
                }
            }
            self._event(pod, "Pulling", f'Pulling image "{ref}"', container=crun.name)
            self._event(
                pod,
                "Failed",
                f'Failed to pull image "{ref}": emulator: image "{ref}" is not in the '
                "emulator's image map",
                warning=True,
                container=crun.name,
            )
            self._event(pod, "Failed", "Error: ErrImagePull", warning=True, container=crun.name)
        elif crun.pull_attempts == 2:
            crun.state = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{ref}"',
                }
            }
            self._event(
                pod, "BackOff", f'Back-off pulling image "{ref}"', warning=True, container=crun.name
            )
            self._event(pod, "Failed", "Error: ImagePullBackOff", warning=True, container=crun.name)

    def _image(self, ref: str, directory: Path | None) -> Image:
        key = (ref, directory)
        if key not in self._image_cache:
            self._image_cache[key] = Image.load(ref, directory)
        return self._image_cache[key]

    def _container_spec(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        crun: ContainerRun,
        run: PodRun,
        image: Image,
    ) -> Any:
        runtime = self._runtime()
        metadata = pod["metadata"]
        pod_spec = pod["spec"]
        env, variables = self._environment(pod, container, image)
        command = [expand(a, variables) for a in container.get("command") or []]
        args = [expand(a, variables) for a in container.get("args") or []]
        if command:
            argv = command + args
        else:
            argv = list(image.entrypoint or []) + (args if container.get("args") else image.cmd)
        if not argv:
            raise ConfigError(
                f"emulator: no command specified for container {crun.name} "
                f"(image {image.ref} has no ENTRYPOINT or CMD)"
            )
        user, group = self._user(pod_spec, container, image)
        pod_security = pod_spec.get("securityContext") or {}
        security = container.get("securityContext") or {}
        run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        if run_as_non_root:
            effective = (
                user if user is not None else (os.getuid() if image.directory is None else 0)
            )
            if effective == 0:
                raise ConfigError(
                    "container has runAsNonRoot and image will run as root "
                    f'(pod: "{metadata["name"]}_{metadata["namespace"]}'
                    f'({metadata["uid"]})", container: {crun.name})'
                )
        restart_suffix = f"_{crun.restart_count}" if crun.restart_count else ""
        log_dir = run.directory / "logs" / crun.name
        log_dir.mkdir(parents=True, exist_ok=True)
        crun.log_path = log_dir / f"{crun.restart_count}.log"
        return runtime.ContainerSpec(
            name=f"{metadata['namespace']}_{metadata['name']}_{crun.name}{restart_suffix}",
            argv=argv,
            env=env,
            workdir=container.get("workingDir") or image.workdir or "/",
            image_dir=image.directory,
            run_as_user=user,
            run_as_group=group,
            read_only_root=bool(security.get("readOnlyRootFilesystem")),
            mounts=self._mounts(pod, container, run, runtime),
            memory_limit_bytes=self._memory_fault(pod)
            or memory_bytes(dig(container, "resources.limits.memory")),
            log_path=crun.log_path,
        )

    def _user(
        self, pod_spec: dict[str, Any], container: dict[str, Any], image: Image
    ) -> tuple[int | None, int | None]:
        pod_security = pod_spec.get("securityContext") or {}
        security = container.get("securityContext") or {}
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        group = security.get("runAsGroup", pod_security.get("runAsGroup"))
        image_user, _, image_group = image.user.partition(":")
        primary_group: int | None = None
        if user is None and image.directory is not None:
            if not image_user:
                user = 0
            elif image_user.isdigit():
                user = int(image_user)
            else:
                found = image.lookup_id("passwd", image_user)
                if found is None:
                    raise ConfigError(
                        f"emulator: image {image.ref} USER {image_user!r} is not in its /etc/passwd"
                    )
                user, primary_group = found
        if group is None and image.directory is not None:
            if image_group.isdigit():
                group = int(image_group)
            elif image_group:
                found = image.lookup_id("group", image_group)
                if found is None:
                    raise ConfigError(
                        f"emulator: image {image.ref} group {image_group!r} is not in "
                        "its /etc/group"
                    )
                group = found[0]
            elif primary_group is not None:
                group = primary_group
            elif user is not None:
                group = 0
        return user, group

    def _environment(
        self, pod: dict[str, Any], container: dict[str, Any], image: Image
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The complete environment, and the variables ``$(VAR)`` may refer to."""
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {"PATH": DEFAULT_PATH}
        env.update(image.env)
        env["HOSTNAME"] = pod["metadata"]["name"]
        variables = dict(self._service_env())
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            if "configMapRef" in source:
                ref = source["configMapRef"]
                obj = self._store.get("ConfigMap", namespace, ref.get("name", ""))
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f'configmap "{ref.get("name")}" not found')
                data = dict(obj.get("data") or {})
            elif "secretRef" in source:
                ref = source["secretRef"]
                obj = self._store.get("Secret", namespace, ref.get("name", ""))
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f'secret "{ref.get("name")}" not found')
                data = _decode_secret(obj.get("data") or {})
            else:
                continue
            for key, value in data.items():
                if _ENV_NAME.match(prefix + key):
                    variables[prefix + key] = value
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" in item:
                value = self._value_from(pod, container, item["valueFrom"])
                if value is None:
                    continue
            else:
                value = expand(item.get("value") or "", variables)
            variables[name] = value
        env.update(variables)
        return env, variables

    def _value_from(
        self, pod: dict[str, Any], container: dict[str, Any], source: dict[str, Any]
    ) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for ref_key, kind, label in (
            ("secretKeyRef", "Secret", "secret"),
            ("configMapKeyRef", "ConfigMap", "configmap"),
        ):
            if ref_key in source:
                ref = source[ref_key]
                name, key = ref.get("name", ""), ref.get("key", "")
                obj = self._store.get(kind, namespace, name)
                if obj is None:
                    if ref.get("optional"):
                        return None
                    raise ConfigError(f'{label} "{name}" not found')
                data = (
                    _decode_secret(obj.get("data") or {})
                    if kind == "Secret"
                    else dict(obj.get("data") or {})
                )
                if key not in data:
                    if ref.get("optional"):
                        return None
                    raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
                return data[key]
        if "fieldRef" in source:
            return self._field_ref(pod, source["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in source:
            return self._resource_field_ref(pod, container, source["resourceFieldRef"])
        raise ConfigError(f"emulator: unsupported valueFrom {sorted(source)}")

    @staticmethod
    def _field_ref(pod: dict[str, Any], path: str) -> str:
        metadata = pod["metadata"]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if match:
            return (metadata.get(match.group(1)) or {}).get(match.group(2), "")
        simple = {
            "metadata.name": metadata["name"],
            "metadata.namespace": metadata["namespace"],
            "metadata.uid": metadata["uid"],
            "spec.nodeName": pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
            "status.hostIP": pod["status"].get("hostIP", "127.0.0.1"),
            "status.hostIPs": pod["status"].get("hostIP", "127.0.0.1"),
            "status.podIP": pod["status"].get("podIP", "127.0.0.1"),
            "status.podIPs": pod["status"].get("podIP", "127.0.0.1"),
        }
        if path not in simple:
            raise ConfigError(f"emulator: unsupported fieldRef {path!r}")
        return simple[path]

    def _resource_field_ref(
        self, pod: dict[str, Any], container: dict[str, Any], ref: dict[str, Any]
    ) -> str:
        if ref.get("containerName"):
            container = next(
                c for c in pod["spec"]["containers"] if c["name"] == ref["containerName"]
            )
        kind, _, resource = ref["resource"].partition(".")
        amount = (container.get("resources") or {}).get(kind, {}).get(resource)
        if amount is None:  # an unset limit reads as the node's allocatable
            node = self._store.get("Node", "", pod["spec"].get("nodeName", ""))
            amount = dig(node, "status.allocatable." + resource) if node else None
        if amount is None:
            return "0"
        divisor = parse_quantity(ref.get("divisor") or "1")
        return str(math.ceil(parse_quantity(amount) / divisor))

    # --- volumes -------------------------------------------------------------------------------

    def _pod_directory(self, pod: dict[str, Any]) -> Path:
        metadata = pod["metadata"]
        directory = (
            self._workdir
            / "pods"
            / (f"{metadata['namespace']}_{metadata['name']}_{metadata['uid']}")
        )
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _prepare_volumes(self, pod: dict[str, Any], run: PodRun) -> dict[str, Path]:
        namespace = pod["metadata"]["namespace"]
        fs_group = (pod["spec"].get("securityContext") or {}).get("fsGroup")
        prepared: dict[str, Path] = {}
        for volume in pod["spec"].get("volumes") or []:
            name = volume["name"]
            target = run.directory / "volumes" / name
            if "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(0o777)
                if fs_group is not None:
                    os.chown(target, -1, fs_group)
            elif "configMap" in volume or "secret" in volume:
                is_secret = "secret" in volume
                source = volume["secret"] if is_secret else volume["configMap"]
                obj_name = source.get("secretName" if is_secret else "name", "")
                obj = self._store.get("Secret" if is_secret else "ConfigMap", namespace, obj_name)
                if obj is None and not source.get("optional"):
                    raise MountError(
                        f'MountVolume.SetUp failed for volume "{name}" : '
                        f'{"secret" if is_secret else "configmap"} "{obj_name}" not found'
                    )
                data: dict[str, bytes] = {}
                if obj is not None and is_secret:
                    data = {k: b64decode(v) for k, v in (obj.get("data") or {}).items()}
                elif obj is not None:
                    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
                    data.update({k: b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
                items = source.get("items")
                default_mode = source.get("defaultMode", 0o644)
                files = (
                    [(item["key"], item["path"], item.get("mode", default_mode)) for item in items]
                    if items
                    else [(key, key, default_mode) for key in data]
                )
                target.mkdir(parents=True, exist_ok=True)
                for key, relative, mode in files:
                    if key not in data:
                        if source.get("optional"):
                            continue
                        raise MountError(
                            f'MountVolume.SetUp failed for volume "{name}" : configmap references '
                            f"non-existent config key: {key}"
                        )
                    path = target / relative
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data[key])
                    if fs_group is not None:
                        os.chown(path, -1, fs_group)
                        mode |= 0o040
                    path.chmod(mode)
            else:
                kinds = sorted(set(volume) - {"name"})
                raise MountError(
                    f'MountVolume.SetUp failed for volume "{name}" : emulator: volume type '
                    f"{kinds} is not supported (configMap, secret and emptyDir are)"
                )
            prepared[name] = target
        if self._automounts_token(pod):
            account = pod["spec"].get("serviceAccountName") or "default"
            directory = self._service_account_dir(namespace, account)
            if directory is None:
                raise MountError(
                    f'MountVolume.SetUp failed for volume "kube-api-access" : serviceaccount '
                    f'"{account}" not found'
                )
            prepared["__serviceaccount__"] = directory
        run.mount_error = ""
        return prepared

    def _automounts_token(self, pod: dict[str, Any]) -> bool:
        setting = pod["spec"].get("automountServiceAccountToken")
        if setting is not None:
            return bool(setting)
        account = self._store.get(
            "ServiceAccount",
            pod["metadata"]["namespace"],
            pod["spec"].get("serviceAccountName") or "default",
        )
        return not (account and account.get("automountServiceAccountToken") is False)

    def _mounts(
        self, pod: dict[str, Any], container: dict[str, Any], run: PodRun, runtime: ModuleType
    ) -> list[Any]:
        assert run.volumes is not None
        kinds = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        mounts = []
        for mount in container.get("volumeMounts") or []:
            volume = kinds[mount["name"]]
            host_path = run.volumes[mount["name"]]
            if mount.get("subPath"):
                host_path = host_path / mount["subPath"]
                if not host_path.exists():
                    if "emptyDir" not in volume:
                        raise ConfigError(
                            f"emulator: subPath {mount['subPath']!r} of volume {mount['name']!r} "
                            "does not exist"
                        )
                    host_path.mkdir(parents=True)
                    host_path.chmod(0o777)
            read_only = bool(mount.get("readOnly")) or "emptyDir" not in volume
            mounts.append(runtime.Mount(mount["mountPath"], host_path, read_only))
        if "__serviceaccount__" in run.volumes and not any(
            m.container_path.rstrip("/") == SERVICE_ACCOUNT_MOUNT for m in mounts
        ):
            mounts.append(
                runtime.Mount(SERVICE_ACCOUNT_MOUNT, run.volumes["__serviceaccount__"], True)
            )
        return mounts

    # --- starting and stopping -----------------------------------------------------------------

    def _start(self, pod_uid: str, crun: ContainerRun, spec: Any) -> None:
        """Start outside the store lock; then record it, unless the pod went meanwhile."""
        error = None
        process = None
        try:
            process = self._runtime().start_container(spec)
        except Exception as exc:  # the runtime's own failure is the container's StartError
            error = exc
        with self._store.lock:
            pod = self._store.by_uid(pod_uid)
            run = self._pods.get(pod_uid)
            if pod is None or run is None or run.containers.get(crun.name) is not crun:
                if process is not None:
                    process.kill()
                return
            now = rfc3339()
            if process is None:
                crun.state = {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "message": f"emulator runtime: {error}",
                        "startedAt": "1970-01-01T00:00:00Z",
                        "finishedAt": now,
                    }
                }
                crun.next_start = time.monotonic() + self._backoff(crun)
                self._event(pod, "Failed", f"Error: {error}", warning=True, container=crun.name)
            else:
                crun.process = process
                crun.container_id = f"emulator://{process.pid}"
                crun.state = {
                    "running": {
                        "startedAt": rfc3339(process.started_at)
                        if isinstance(getattr(process, "started_at", None), datetime)
                        else now
                    }
                }
                self._event(pod, "Created", f"Created container: {crun.name}", container=crun.name)
                self._event(pod, "Started", f"Started container {crun.name}", container=crun.name)
            self._write_status(pod, run)

    def running_containers(self, pod: dict[str, Any]) -> list[str]:
        """Names of the pod's containers whose processes have not ended."""
        run = self._pods.get(pod["metadata"]["uid"])
        if run is None:
            return []
        return [
            crun.name
            for crun in run.containers.values()
            if crun.process is not None and crun.process.poll() is None
        ]

    def terminate_pod(self, pod: dict[str, Any]) -> None:
        """SIGTERM each running container's processes (the start of a graceful deletion;
        the control plane kills what is left when the grace period ends)."""
        run = self._pods.get(pod["metadata"]["uid"])
        for crun in run.containers.values() if run else ():
            if crun.process is not None and crun.process.poll() is None:
                self._event(pod, "Killing", f"Stopping container {crun.name}", container=crun.name)
                crun.process.terminate()

    def kill_pod(self, pod: dict[str, Any]) -> None:
        """Stop the pod's containers (SIGKILL) and forget it. Call with the store lock held."""
        run = self._pods.pop(pod["metadata"]["uid"], None)
        if run is None:
            return
        for crun in run.containers.values():
            if crun.process is not None:
                self._event(pod, "Killing", f"Stopping container {crun.name}", container=crun.name)
                crun.process.kill()
                crun.process = None

    def kill_all(self) -> None:
        with self._store.lock:
            runs = list(self._pods.values())
            self._pods.clear()
        for run in runs:
            for crun in run.containers.values():
                if crun.process is not None:
                    crun.process.kill()
                    crun.process = None

    def pids(self) -> list[int]:
        with self._store.lock:
            return [
                crun.process.pid
                for run in self._pods.values()
                for crun in run.containers.values()
                if crun.process is not None
            ]

    def log_path(self, pod: dict[str, Any], container: str) -> Path | None:
        run = self._pods.get(pod["metadata"]["uid"])
        crun = run.containers.get(container) if run else None
        return crun.log_path if crun else None

    def waiting_reason(self, pod: dict[str, Any], container: str) -> str | None:
        run = self._pods.get(pod["metadata"]["uid"])
        crun = run.containers.get(container) if run else None
        if crun is None:
            return "ContainerCreating"
        waiting = crun.state.get("waiting")
        if waiting and crun.log_path is None:
            return waiting.get("reason") or "ContainerCreating"
        return None

    # --- status --------------------------------------------------------------------------------

    def _event(
        self,
        pod: dict[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
        container: str | None = None,
    ) -> None:
        del container  # events name the container in their message, as the kubelet's do
        self._events.record(
            pod,
            reason,
            message,
            warning=warning,
            component="kubelet",
            host=pod["spec"].get("nodeName"),
        )

    def _write_status(self, pod: dict[str, Any], run: PodRun) -> None:
        spec = pod["spec"]
        old = json.dumps(pod["status"], sort_keys=True)
        status = pod["status"]
        statuses = []
        for container in spec["containers"]:
            crun = run.containers[container["name"]]
            entry: dict[str, Any] = {
                "name": crun.name,
                "image": crun.image,
                "imageID": crun.image_id,
                "ready": crun.running,
                "started": crun.running,
                "restartCount": crun.restart_count,
                "state": crun.state,
                "lastState": crun.last_state,
            }
            if crun.container_id:
                entry["containerID"] = crun.container_id
            statuses.append(entry)
        status["containerStatuses"] = json.loads(json.dumps(statuses))
        status.setdefault("startTime", run.start_time)
        node = self._store.get("Node", "", spec.get("nodeName", ""))
        host_ip = "127.0.0.1"
        if node:
            host_ip = next(
                (
                    a["address"]
                    for a in dig(node, "status.addresses") or []
                    if a.get("type") == "InternalIP"
                ),
                host_ip,
            )
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
        status["podIP"] = "127.0.0.1"
        status["podIPs"] = [{"ip": "127.0.0.1"}]

        runs = [run.containers[c["name"]] for c in spec["containers"]]
        policy = spec.get("restartPolicy") or "Always"

        def finished(crun: ContainerRun) -> bool:
            terminated = crun.terminated
            if terminated is None or crun.process is not None:
                return False
            return policy == "Never" or (policy == "OnFailure" and terminated["exitCode"] == 0)

        ever_started = any(c.container_id or c.terminated or c.last_state for c in runs)
        if all(finished(c) for c in runs):
            failed = any(c.terminated and c.terminated["exitCode"] != 0 for c in runs)
            phase = "Failed" if failed else "Succeeded"
        elif ever_started:
            phase = "Running"
        else:
            phase = "Pending"
        if run.deadline_exceeded:
            phase = "Failed"
            status["reason"] = "DeadlineExceeded"
            status["message"] = _POD_DEADLINE_MESSAGE
        status["phase"] = phase
        all_ready = all(c.running for c in runs)
        unready = [c.name for c in runs if not c.running]
        now = rfc3339()
        conditions = {c["type"]: c for c in status.get("conditions") or []}

        def condition(
            kind: str, value: bool, reason: str | None = None, message: str | None = None
        ) -> None:
            text = "True" if value else "False"
            previous = conditions.get(kind)
            entry: dict[str, Any] = {
                "type": kind,
                "status": text,
                "lastProbeTime": None,
                "lastTransitionTime": (previous or {}).get("lastTransitionTime", now)
                if previous and previous.get("status") == text
                else now,
            }
            if reason:
                entry["reason"] = reason
            if message:
                entry["message"] = message
            conditions[kind] = entry

        terminal = phase in ("Succeeded", "Failed")
        condition("PodReadyToStartContainers", run.volumes is not None and not terminal)
        condition("Initialized", True)
        ready_reason = "PodCompleted" if terminal else (None if all_ready else "ContainersNotReady")
        ready_message = (
            None
            if all_ready or terminal
            else (f"containers with unready status: [{' '.join(unready)}]")
        )
        condition("Ready", all_ready, ready_reason, ready_message)
        condition("ContainersReady", all_ready, ready_reason, ready_message)
        order = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        status["conditions"] = sorted(
            conditions.values(),
            key=lambda c: order.index(c["type"]) if c["type"] in order else len(order),
        )
        if json.dumps(status, sort_keys=True) != old:
            self._store.touch(pod)
