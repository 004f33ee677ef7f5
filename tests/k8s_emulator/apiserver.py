"""The emulator's apiserver over HTTPS, and :class:`KubernetesEmulator`, the harness's handle.

Only the calls dagster-k8s 0.29.27 makes are served (see ``_ROUTES``); any other request
is answered with a 404/405 ``Status`` and recorded with ``implemented=False``, so a test
can assert that nothing it relies on was silently faked::

    with KubernetesEmulator(images={"ghcr.io/x/app:1": image_dir}) as k8s:
        k8s.add_node("node-1")
        k8s.apply(manifests)                       # helm-rendered dicts
        kubeconfig = k8s.write_kubeconfig(tmp_path / "kubeconfig", service_account=("ns", "sa"))
        ...
        assert not k8s.unimplemented_calls()
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import importlib
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import traceback
from base64 import b64encode
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .controllers import ControlPlane
from .kubelet import Kubelet
from .rbac import Attributes, Authorizer, User
from .store import (
    KINDS,
    ApiError,
    EventRecorder,
    Store,
    bad_request,
    now_utc,
    parse_rfc3339,
    public_copy,
    rfc3339,
)
from .tls import create_certificates


@dataclass(frozen=True)
class ApiRequest:
    """One request the apiserver answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    user: str
    verb: str | None = None
    resource: str | None = None  # "pods", "pods/log", "jobs" ...
    namespace: str | None = None
    name: str | None = None
    implemented: bool = True


@dataclass(frozen=True)
class _Target:
    group: str
    version: str
    namespace: str | None
    resource: str
    name: str | None
    subresource: str | None


def _parse_path(path: str) -> _Target | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return _Target(
        group,
        version,
        namespace,
        rest[0],
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
    )


def _flag(value: str | None) -> bool:
    """A boolean query parameter, parsed like Go's strconv.ParseBool ("true", "True", "1")."""
    return value in ("1", "t", "T", "true", "True", "TRUE")


def _verb(method: str, target: _Target, query: dict[str, list[str]]) -> str:
    watching = _flag(query.get("watch", [None])[0])
    if method == "GET":
        if watching:
            return "watch"
        return "get" if target.name else "list"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if target.name else "deletecollection",
    }.get(method, method.lower())


_RESOURCE_KINDS = {(k.group, k.resource): k for k in KINDS.values()}

# (group, resource, subresource, verb) -> handler method name: what dagster-k8s calls.
_ROUTES = {
    ("batch", "jobs", None, "create"): "_create_job",
    ("batch", "jobs", None, "list"): "_list",
    ("batch", "jobs", None, "get"): "_get",
    ("batch", "jobs", "status", "get"): "_get",
    ("batch", "jobs", None, "delete"): "_delete_job",
    ("", "pods", None, "list"): "_list",
    ("", "pods", None, "get"): "_get",
    ("", "pods", "status", "get"): "_get",
    ("", "pods", None, "delete"): "_delete_pod",
    ("", "pods", "log", "get"): "_read_log",
    ("", "events", None, "list"): "_list",
}

_SERVICE_ACCOUNT_MOUNT_FILES = ("token", "ca.crt", "namespace")
_APPLY_KINDS = {
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Service",
    "Node",
    "Deployment",
    "Pod",
    "Job",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
}


class _Response:
    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        self.status = status
        self.content_type = content_type
        self.payload = body if isinstance(body, bytes) else json.dumps(body).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, emulator: KubernetesEmulator, context: ssl.SSLContext) -> None:
        self.emulator = emulator
        self.ssl_context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the connection's own thread, not the accept loop.
        request.settimeout(30)
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                connection.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.emulator.handle(
            self.command, self.path, self.headers.get("Authorization"), body
        )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(response.payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass  # every request is in emulator.requests instead


class KubernetesEmulator:
    """An apiserver, scheduler, controllers and kubelet for one test.

    ``images`` maps image references to image directories (``image.json`` + ``rootfs/``)
    or to None: run on the host filesystem as is (unit tests). Timers (``tick_s``, the
    Job pod back-off ``job_backoff_s``, the CrashLoopBackOff ``crash_backoff_s``) are
    real seconds; 10 s back-offs are what a cluster uses.
    """

    def __init__(
        self,
        images: Mapping[str, Path | None] | None = None,
        *,
        workdir: Path | None = None,
        namespaces: Iterable[str] = ("default",),
        tick_s: float = 0.2,
        job_backoff_s: float = 10.0,
        crash_backoff_s: float = 10.0,
        runtime: ModuleType | None = None,
    ) -> None:
        self.images: dict[str, Path | None] = dict(images or {})
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="k8s-emulator-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tick_s = tick_s
        self.requests: list[ApiRequest] = []
        self.controller_errors: list[str] = []
        self.admin_token = secrets.token_urlsafe(32)
        self._tokens: dict[str, User] = {
            self.admin_token: User("kubernetes-admin", ("system:masters",), admin=True)
        }
        self._runtime_module = runtime
        self._certs = create_certificates(self.workdir / "pki")
        self.ca_cert_path = self._certs.ca_cert
        self.store = Store()
        self._events = EventRecorder(self.store)
        self._authorizer = Authorizer(self.store)
        self._kubelet = Kubelet(
            self.store,
            self._events,
            self.images,
            self.workdir,
            self._service_env,
            self._existing_service_account_dir,
            self._runtime,
            crash_backoff_s,
        )
        self._control = ControlPlane(
            self.store, self._events, self._kubelet, job_backoff_s=job_backoff_s
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._certs.server_cert, self._certs.server_key)
        self._server = _Server(self, context)
        self.host, self.port = self._server.server_address[:2]
        self.url = f"https://{self.host}:{self.port}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopped = False
        for namespace in namespaces:
            self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> KubernetesEmulator:
        if self._started:
            return self
        self._started = True
        atexit.register(self.stop)
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="k8s-emulator-apiserver",
                daemon=True,
            ),
            threading.Thread(target=self._loop, name="k8s-emulator-controllers", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Kill every container, stop the loops and the server. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self._stopping.set()
        for thread in self._threads[1:]:
            thread.join(timeout=30)
        self._kubelet.kill_all()
        if self._started:
            self._server.shutdown()
        self._server.server_close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KubernetesEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.wait(self.tick_s):
            self.sync()

    def sync(self) -> None:
        """One pass of every controller and the kubelet (the loop runs this every tick)."""
        try:
            self._control.tick()
            self._kubelet.tick()
            self._control.tick()
        except Exception:
            error = traceback.format_exc()
            if error not in self.controller_errors[-1:]:  # not one copy per tick
                self.controller_errors.append(error)

    def _runtime(self) -> ModuleType:
        if self._runtime_module is None:
            self._runtime_module = importlib.import_module(f"{__package__}.runtime")
        return self._runtime_module

    # --- credentials ---------------------------------------------------------------------------

    def _service_env(self) -> dict[str, str]:
        port = str(self.port)
        address = f"tcp://127.0.0.1:{port}"
        return {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": address,
            f"KUBERNETES_PORT_{port}_TCP": address,
            f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{port}_TCP_PORT": port,
            f"KUBERNETES_PORT_{port}_TCP_ADDR": "127.0.0.1",
        }

    def in_cluster_env(self) -> dict[str, str]:
        """What ``load_incluster_config()`` reads from the environment."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}

    def _service_account_directory(self, namespace: str, name: str) -> Path:
        return self.workdir / "serviceaccounts" / namespace / name

    def _existing_service_account_dir(self, namespace: str, name: str) -> Path | None:
        if self.store.get("ServiceAccount", namespace, name) is None:
            return None
        return self._service_account_directory(namespace, name)

    def in_cluster_dir(self, namespace: str, service_account: str) -> Path:
        """The ``token`` / ``ca.crt`` / ``namespace`` directory pods of that account mount."""
        directory = self._existing_service_account_dir(namespace, service_account)
        if directory is None:
            raise KeyError(f'serviceaccount "{service_account}" not found in "{namespace}"')
        return directory

    def token(self, namespace: str, service_account: str) -> str:
        return (self.in_cluster_dir(namespace, service_account) / "token").read_text()

    def _issue_token(self, account: dict[str, Any]) -> None:
        namespace = account["metadata"]["namespace"]
        name = account["metadata"]["name"]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = User.service_account(namespace, name)
        directory = self._service_account_directory(namespace, name)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(token)
        (directory / "namespace").write_text(namespace)
        shutil.copyfile(self.ca_cert_path, directory / "ca.crt")
        for entry in _SERVICE_ACCOUNT_MOUNT_FILES:
            (directory / entry).chmod(0o644)

    def write_kubeconfig(
        self,
        path: Path,
        *,
        namespace: str = "default",
        service_account: tuple[str, str] | None = None,
    ) -> Path:
        """A kubeconfig for ``service_account`` (namespace, name), or for the admin."""
        if service_account is None:
            user, token = "kubernetes-admin", self.admin_token
        else:
            user = f"system:serviceaccount:{service_account[0]}:{service_account[1]}"
            token = self.token(*service_account)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "emulator",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.ca_cert_path),
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": user, "namespace": namespace},
                }
            ],
            "current-context": "emulator",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2))
        return path

    def api_client(self, service_account: tuple[str, str] | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin or a (namespace, name) account."""
        import kubernetes.client

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_cert_path)
        token = self.admin_token if service_account is None else self.token(*service_account)
        configuration.api_key = {"authorization": f"Bearer {token}"}
        return kubernetes.client.ApiClient(configuration)

    # --- nodes ---------------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "16Gi",
        pods: int = 110,
        ephemeral_storage: str = "100Gi",
        labels: Mapping[str, str] | None = None,
        taints: Iterable[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        allocatable = {
            "cpu": cpu,
            "memory": memory,
            "pods": str(pods),
            "ephemeral-storage": ephemeral_storage,
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"taints": [dict(t) for t in taints]},
            "status": {"capacity": dict(allocatable), "allocatable": allocatable},
        }
        return self.apply([node])[0]

    def add_pools(
        self,
        pool_key: str,
        high_memory_value: str,
        *,
        default_value: str = "default",
        default_nodes: int = 1,
        high_memory_nodes: int = 1,
        default_cpu: str = "4",
        default_memory: str = "16Gi",
        high_memory_cpu: str = "8",
        high_memory_memory: str = "64Gi",
    ) -> list[str]:
        """The project's two node pools: ``default`` (untainted) and a high-memory pool
        labelled and tainted ``<pool_key>=<high_memory_value>:NoSchedule``."""
        names = []
        for index in range(1, default_nodes + 1):
            names.append(f"{default_value}-pool-{index}")
            self.add_node(
                names[-1], cpu=default_cpu, memory=default_memory, labels={pool_key: default_value}
            )
        for index in range(1, high_memory_nodes + 1):
            names.append(f"{high_memory_value}-pool-{index}")
            self.add_node(
                names[-1],
                cpu=high_memory_cpu,
                memory=high_memory_memory,
                labels={pool_key: high_memory_value},
                taints=[{"key": pool_key, "value": high_memory_value, "effect": "NoSchedule"}],
            )
        return names

    # --- objects from Python -------------------------------------------------------------------

    def apply(
        self, objects: Iterable[Mapping[str, Any] | None], namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Create or update manifests (plain dicts, as ``helm template`` renders them)."""
        applied = []
        for source in objects:
            if not source:
                continue
            obj = copy.deepcopy(dict(source))
            kind_name = obj.get("kind")
            if kind_name not in _APPLY_KINDS:
                raise ValueError(
                    f"emulator.apply: kind {kind_name!r} is not supported "
                    f"(supported: {sorted(_APPLY_KINDS)})"
                )
            kind = KINDS[kind_name]
            if obj.get("apiVersion") and obj["apiVersion"] != kind.api_version:
                raise ValueError(
                    f"emulator.apply: {kind_name} must be {kind.api_version}, got "
                    f"{obj['apiVersion']}"
                )
            metadata = obj.setdefault("metadata", {})
            if kind.namespaced:
                metadata["namespace"] = metadata.get("namespace") or namespace or "default"
            with self.store.lock:
                existing = self.store.get(
                    kind_name, metadata.get("namespace", ""), metadata.get("name", "")
                )
                stored = self._update(existing, obj) if existing is not None else self._create(obj)
                applied.append(public_copy(stored))
        return applied

    def _create(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["kind"]
        if kind == "Pod":
            return self._control.create_pod(obj)
        if kind == "Job":
            return self._control.create_job(obj)
        if KINDS[kind].namespaced:
            self._control.require_namespace(obj["metadata"]["namespace"])
        if kind == "Secret":
            self._normalize_secret(obj)
        if kind == "Node":
            self._default_node(obj)
        if kind in ("Deployment", "Service"):
            obj.setdefault("status", {})
        stored = self.store.create(obj)
        if kind == "ServiceAccount":
            self._issue_token(stored)
        if kind == "Namespace":
            stored["status"] = {"phase": "Active"}
            self.apply(
                [
                    {
                        "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": stored["metadata"]["name"]},
                    }
                ]
            )
        return stored

    def _update(self, existing: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["kind"]
        if kind in ("Pod", "Job") and obj.get("spec") != existing.get("spec"):
            raise ValueError(
                f"emulator.apply: {kind} {existing['metadata']['name']} exists and "
                "its spec cannot be changed; delete it first"
            )
        if kind == "Secret":
            self._normalize_secret(obj)
        if kind == "Node":
            self._default_node(obj)
        for key in ("labels", "annotations"):
            if key in obj["metadata"]:
                existing["metadata"][key] = obj["metadata"][key]
        for key, value in obj.items():
            if key in ("metadata", "status", "kind", "apiVersion"):
                continue
            if key == "spec" and value != existing.get("spec"):
                existing["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
            existing[key] = value
        if kind == "Node":
            existing["status"] = obj["status"]
        self.store.touch(existing)
        return existing

    @staticmethod
    def _normalize_secret(obj: dict[str, Any]) -> None:
        data = dict(obj.get("data") or {})
        for key, value in (obj.pop("stringData", None) or {}).items():
            data[key] = b64encode(str(value).encode()).decode()
        obj["data"] = data
        obj.setdefault("type", "Opaque")

    @staticmethod
    def _default_node(obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        labels = obj["metadata"].setdefault("labels", {})
        labels.setdefault("kubernetes.io/hostname", name)
        labels.setdefault("kubernetes.io/os", "linux")
        labels.setdefault("kubernetes.io/arch", "amd64")
        obj.setdefault("spec", {})
        status = obj.setdefault("status", {})
        defaults = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        status.setdefault("capacity", dict(defaults))
        status.setdefault("allocatable", dict(status["capacity"]))
        status.setdefault(
            "conditions",
            [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
        )
        status.setdefault(
            "addresses",
            [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        )
        status.setdefault(
            "nodeInfo",
            {
                "kubeletVersion": "v1.31.0-emulator",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        )

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.store.lock:
            obj = self.store.get(kind, namespace, name)
            return public_copy(obj) if obj is not None else None

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        with self.store.lock:
            return [
                public_copy(o)
                for o in self.store.list(kind, namespace, label_selector, field_selector)
            ]

    def events(
        self, namespace: str | None = None, involved_name: str | None = None
    ) -> list[dict[str, Any]]:
        selector = f"involvedObject.name={involved_name}" if involved_name else None
        events = self.list("Event", namespace, field_selector=selector)
        return sorted(
            events, key=lambda e: (e["firstTimestamp"], int(e["metadata"]["resourceVersion"]))
        )

    def delete(self, kind: str, namespace: str, name: str, propagation: str = "Background") -> None:
        with self.store.lock:
            self._control.delete(self.store.require(kind, namespace, name), propagation)

    def wait_for(
        self, condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
    ) -> Any:
        """Poll ``condition`` until it returns something truthy; raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if self.controller_errors:
                raise AssertionError("emulator controller failed:\n" + self.controller_errors[0])
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulator: timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    def crash_pod(self, namespace: str, name: str) -> int:
        """Fault: SIGKILL a pod's containers, leaving the pod (exit code 137)."""
        with self.store.lock:
            return self._kubelet.crash_pod(self.store.require("Pod", namespace, name))

    def constrain_next_pod_memory(self, label_selector: str, limit_bytes: int) -> None:
        """Fault: see ``Kubelet.constrain_next_pod_memory``."""
        self._kubelet.constrain_next_pod_memory(label_selector, limit_bytes)

    def running_pids(self) -> list[int]:
        return self._kubelet.pids()

    def unimplemented_calls(self) -> list[ApiRequest]:
        return [r for r in self.requests if not r.implemented]

    # --- HTTP ----------------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, authorization: str | None, body: bytes
    ) -> _Response:
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        target = _parse_path(split.path)
        verb = _verb(method, target, query) if target else None
        user = self._authenticate(authorization)
        handler_name = (
            _ROUTES.get((target.group, target.resource, target.subresource, verb))
            if target and target.namespace and target.version == "v1"
            else None
        )
        if handler_name == "_read_log" and _flag(query.get("follow", [None])[0]):
            handler_name = None
        record = {
            "method": method,
            "path": split.path,
            "query": query,
            "user": user.name if user else "system:anonymous",
            "verb": verb,
            "resource": (
                f"{target.resource}/{target.subresource}"
                if target and target.subresource
                else target.resource
                if target
                else None
            ),
            "namespace": target.namespace if target else None,
            "name": target.name if target else None,
            "implemented": handler_name is not None,
        }
        try:
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if target is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f"the server could not find the requested resource (emulator: "
                    f"{method} {split.path} is not implemented)",
                    {},
                )
            assert verb is not None
            self._authorizer.check(
                user,
                Attributes(
                    verb,
                    target.group,
                    target.resource,
                    target.subresource,
                    target.namespace,
                    target.name,
                ),
            )
            if handler_name is None:
                known = (target.group, target.resource) in _RESOURCE_KINDS
                raise ApiError(
                    405 if known else 404,
                    "MethodNotAllowed" if known else "NotFound",
                    (
                        "the server does not allow this method on the requested resource"
                        if known
                        else "the server could not find the requested resource"
                    )
                    + f" (emulator: {verb} {record['resource']} at {split.path} is not "
                    "implemented)",
                    {},
                )
            kind = _RESOURCE_KINDS[(target.group, target.resource)]
            response = getattr(self, handler_name)(kind, target, query, body)
        except ApiError as error:
            response = _Response(error.code, error.status())
        except Exception as error:
            self.controller_errors.append(traceback.format_exc())
            response = _Response(
                500, ApiError(500, "InternalError", f"emulator internal error: {error}").status()
            )
        self.requests.append(ApiRequest(status=response.status, **record))
        return response

    def _authenticate(self, authorization: str | None) -> User | None:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":  # the scheme is case-insensitive (RFC 9110)
            return None
        return self._tokens.get(token.strip())

    def _create_job(
        self, kind: Any, target: _Target, query: dict[str, list[str]], body: bytes
    ) -> _Response:
        try:
            obj = json.loads(body or b"{}")
        except ValueError as error:
            raise bad_request(f"invalid JSON body: {error}") from error
        if obj.get("kind") not in (None, "Job") or obj.get("apiVersion") not in (None, "batch/v1"):
            raise bad_request(
                f"emulator: expected a batch/v1 Job, got {obj.get('apiVersion')} {obj.get('kind')}"
            )
        metadata = obj.setdefault("metadata", {})
        if metadata.get("namespace") not in (None, target.namespace):
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        metadata["namespace"] = target.namespace
        if query.get("dryRun"):
            raise bad_request("emulator: dryRun is not implemented")
        with self.store.lock:
            return _Response(201, self._public(self._control.create_job(obj)))

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return public_copy(obj)

    def _get(
        self, kind: Any, target: _Target, query: dict[str, list[str]], body: bytes
    ) -> _Response:
        assert target.namespace and target.name
        with self.store.lock:
            return _Response(
                200, self._public(self.store.require(kind.kind, target.namespace, target.name))
            )

    def _list(
        self, kind: Any, target: _Target, query: dict[str, list[str]], body: bytes
    ) -> _Response:
        with self.store.lock:
            items = self.store.list(
                kind.kind,
                target.namespace,
                query.get("labelSelector", [None])[0],
                query.get("fieldSelector", [None])[0],
            )
            offset = int(query.get("continue", ["0"])[0] or 0)
            limit = int(query.get("limit", ["0"])[0] or 0)
            page = items[offset : offset + limit] if limit else items[offset:]
            metadata: dict[str, Any] = {"resourceVersion": self.store.resource_version}
            if limit and offset + limit < len(items):
                metadata["continue"] = str(offset + limit)
                metadata["remainingItemCount"] = len(items) - offset - limit
            listed = []
            for obj in page:
                item = self._public(obj)
                item.pop("kind", None)
                item.pop("apiVersion", None)
                listed.append(item)
            return _Response(
                200,
                {
                    "kind": f"{kind.kind}List",
                    "apiVersion": kind.api_version,
                    "metadata": metadata,
                    "items": listed,
                },
            )

    @staticmethod
    def _propagation(query: dict[str, list[str]], body: bytes, default: str) -> str:
        options: dict[str, Any] = {}
        if body:
            try:
                options = json.loads(body)
            except ValueError as error:
                raise bad_request(f"invalid DeleteOptions: {error}") from error
        policy = options.get("propagationPolicy") or query.get("propagationPolicy", [None])[0]
        orphan = options.get("orphanDependents")
        if orphan is None and "orphanDependents" in query:
            orphan = _flag(query["orphanDependents"][0])
        if policy is None and orphan is not None:
            policy = "Orphan" if orphan else "Background"
        policy = policy or default
        if policy not in ("Orphan", "Background", "Foreground"):
            raise bad_request(f'propagationPolicy "{policy}" is not supported')
        return policy

    def _delete_job(
        self, kind: Any, target: _Target, query: dict[str, list[str]], body: bytes
    ) -> _Response:
        assert target.namespace and target.name
        # batch/v1 Jobs default to orphaning their pods when deleted through the API.
        policy = self._propagation(query, body, "Orphan")
        with self.store.lock:
            job = self.store.require("Job", target.namespace, target.name)
            uid = job["metadata"]["uid"]
            self._control.delete(job, policy)
        return _Response(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": target.name, "group": "batch", "kind": "jobs", "uid": uid},
            },
        )

    def _delete_pod(
        self, kind: Any, target: _Target, query: dict[str, list[str]], body: bytes
    ) -> _Response:
        assert target.namespace and target.name
        policy = self._propagation(query, body, "Background")
        grace = self._grace_period(query, body)
        with self.store.lock:
            pod = self.store.require("Pod", target.namespace, target.name)
            self._control.delete(pod, policy, grace)
            deleted = self._public(pod)
        # Still there while its containers stop (graceful), or gone at once.
        deleted["metadata"].setdefault("deletionTimestamp", rfc3339())
        deleted["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        return _Response(200, deleted)

    @staticmethod
    def _grace_period(query: dict[str, list[str]], body: bytes) -> int | None:
        """DeleteOptions.gracePeriodSeconds from the body or the query; None: the pod's."""
        options = json.loads(body) if body else {}
        value = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds", [None])[0])
        if value is None:
            return None
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            raise bad_request(f"invalid gracePeriodSeconds: {value!r}") from None

    def _read_log(
        self, kind: Any, target: _Target, query: dict[str, list[str]], body: bytes
    ) -> _Response:
        assert target.namespace and target.name

        def param(name: str) -> str | None:
            return query.get(name, [None])[0]

        with self.store.lock:
            pod = self.store.require("Pod", target.namespace, target.name)
            names = [c["name"] for c in pod["spec"]["containers"]]
            container = param("container")
            if not container:
                if len(names) > 1:
                    raise bad_request(
                        f"a container name must be specified for pod {target.name}, choose one "
                        f"of: [{' '.join(names)}]"
                    )
                container = names[0]
            if container not in names:
                raise bad_request(f"container {container} is not valid for pod {target.name}")
            waiting = self._kubelet.waiting_reason(pod, container)
            if waiting:
                raise bad_request(
                    f'container "{container}" in pod "{target.name}" is waiting to start: {waiting}'
                )
            path = self._kubelet.log_path(pod, container)
        if _flag(param("previous")):
            if path is None or path.stem == "0":
                raise bad_request(
                    f'previous terminated container "{container}" in pod "{target.name}" not found'
                )
            path = path.with_name(f"{int(path.stem) - 1}.log")
        lines = path.read_bytes().splitlines(keepends=True) if path and path.exists() else []
        since = param("sinceSeconds")
        if since:
            cutoff = now_utc() - timedelta(seconds=int(since))
            lines = [line for line in lines if parse_rfc3339(line[:19].decode() + "Z") >= cutoff]
        tail = param("tailLines")
        if tail is not None:
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        if not _flag(param("timestamps")):
            lines = [line.split(b" ", 1)[1] if b" " in line else b"\n" for line in lines]
        payload = b"".join(lines)
        limit = param("limitBytes")
        if limit:
            payload = payload[: int(limit)]
        return _Response(200, payload, "text/plain")
