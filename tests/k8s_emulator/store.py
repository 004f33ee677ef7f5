"""The emulator's object store: kinds, metadata, selectors, API errors, events.

Objects are plain dicts in the API's own JSON shape (camelCase), exactly as a
client sends them and as ``helm template`` renders them. One re-entrant lock
guards the store; the API server and the controllers take it per operation.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Kind:
    kind: str
    api_version: str
    resource: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def qualified_resource(self) -> str:
        """How the apiserver names the resource in messages: ``pods``, ``jobs.batch``."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Pod", "v1", "pods"),
        Kind("Event", "v1", "events"),
        Kind("ConfigMap", "v1", "configmaps"),
        Kind("Secret", "v1", "secrets"),
        Kind("ServiceAccount", "v1", "serviceaccounts"),
        Kind("Service", "v1", "services"),
        Kind("Namespace", "v1", "namespaces", namespaced=False),
        Kind("Node", "v1", "nodes", namespaced=False),
        Kind("Job", "batch/v1", "jobs"),
        Kind("Deployment", "apps/v1", "deployments"),
        Kind("ReplicaSet", "apps/v1", "replicasets"),
        Kind("Role", "rbac.authorization.k8s.io/v1", "roles"),
        Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
        Kind("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", namespaced=False),
        Kind(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io/v1",
            "clusterrolebindings",
            namespaced=False,
        ),
    )
}

# The alphabet Kubernetes uses for generateName suffixes (no vowels, no 0/1/3).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def now_utc() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime | None = None) -> str:
    """Second-precision UTC timestamp, the format of metadata and status times."""
    return (moment or now_utc()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_ALPHABET) for _ in range(length))


class ApiError(Exception):
    """An error the apiserver answers with a ``Status`` object."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(kind: Kind, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind.resource}
    if name:
        details["name"] = name
    if kind.group:
        details["group"] = kind.group
    return details


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{kind.qualified_resource} "{name}" not found', _details(kind, name)
    )


def already_exists(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{kind.qualified_resource} "{name}" already exists',
        _details(kind, name),
    )


def invalid(kind: Kind, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid, with one cause per (field, message) as the apiserver lists them."""
    summary = ", ".join(f"{field}: {message}" for field, message in causes)
    details = _details(kind, name)
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": message, "field": field}
        for field, message in causes
    ]
    qualified_kind = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    summary = f"[{summary}]" if len(causes) > 1 else summary
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


# --- selectors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=":
                return present and value == self.values[0]
            case "!=":
                return not present or value != self.values[0]
            case "in":
                return present and value in self.values
            case "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case _:
                return not present


def _split_top_level(text: str) -> Iterator[str]:
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:index]
            start = index + 1
    yield text[start:]


_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")


def parse_label_selector(text: str | None) -> list[Requirement]:
    """The string form of label selectors: ``a=b``, ``a!=b``, ``a in (x,y)``, ``a``, ``!a``."""
    requirements: list[Requirement] = []
    if not text or not text.strip():
        return requirements
    for part in _split_top_level(text):
        part = part.strip()
        if not part:
            raise bad_request(f"unable to parse requirement: empty requirement in {text!r}")
        if match := _SET_REQUIREMENT.match(part):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _EQUALITY.match(part):
            operator = "!=" if match.group(2) == "!=" else "="
            requirements.append(Requirement(match.group(1), operator, (match.group(3),)))
        elif part.startswith("!") and re.fullmatch(r"![^\s!=()]+", part):
            requirements.append(Requirement(part[1:], "!"))
        elif re.fullmatch(r"[^\s!=()]+", part):
            requirements.append(Requirement(part, "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {part!r}")
    return requirements


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A structured ``LabelSelector`` (matchLabels / matchExpressions) against labels."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        requirement = Requirement(
            expression["key"],
            operators[expression["operator"]],
            tuple(expression.get("values") or ()),
        )
        if not requirement.matches(labels):
            return False
    return True


# Field selectors each resource supports on a real apiserver (the ones this emulator serves).
_FIELDS: dict[str, dict[str, str]] = {
    "*": {"metadata.name": "metadata.name", "metadata.namespace": "metadata.namespace"},
    "Pod": {
        "spec.nodeName": "spec.nodeName",
        "spec.restartPolicy": "spec.restartPolicy",
        "spec.schedulerName": "spec.schedulerName",
        "spec.serviceAccountName": "spec.serviceAccountName",
        "status.phase": "status.phase",
        "status.podIP": "status.podIP",
        "status.nominatedNodeName": "status.nominatedNodeName",
    },
    "Event": {
        "involvedObject.kind": "involvedObject.kind",
        "involvedObject.namespace": "involvedObject.namespace",
        "involvedObject.name": "involvedObject.name",
        "involvedObject.uid": "involvedObject.uid",
        "involvedObject.apiVersion": "involvedObject.apiVersion",
        "involvedObject.resourceVersion": "involvedObject.resourceVersion",
        "involvedObject.fieldPath": "involvedObject.fieldPath",
        "reason": "reason",
        "reportingComponent": "reportingComponent",
        "source": "source.component",
        "type": "type",
    },
    "Job": {"status.successful": "status.succeeded"},
}


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    value: str
    negate: bool


def parse_field_selector(kind: str, text: str | None) -> list[FieldRequirement]:
    requirements: list[FieldRequirement] = []
    if not text or not text.strip():
        return requirements
    supported = {**_FIELDS["*"], **_FIELDS.get(kind, {})}
    for part in text.split(","):
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = match.groups()
        if field not in supported:
            raise bad_request(f'field label not supported: "{field}"')
        requirements.append(FieldRequirement(supported[field], value, operator == "!="))
    return requirements


def dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _field_matches(obj: dict[str, Any], requirement: FieldRequirement) -> bool:
    value = dig(obj, requirement.path)
    text = "" if value is None else str(value)
    return (text != requirement.value) if requirement.negate else (text == requirement.value)


# --- store -------------------------------------------------------------------------------------


class Store:
    """Objects by kind, namespace and name, with server-set metadata."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in KINDS}
        self._by_uid: dict[str, dict[str, Any]] = {}
        self._resource_version = 0
        self._created = 0
        self._creation_order: dict[str, int] = {}

    @property
    def resource_version(self) -> str:
        return str(self._resource_version)

    def _bump(self, obj: dict[str, Any]) -> None:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (taken over, not copied) with uid, resourceVersion, creationTimestamp."""
        kind = KINDS[obj["kind"]]
        with self.lock:
            metadata = obj.setdefault("metadata", {})
            if not metadata.get("name"):
                prefix = metadata.get("generateName")
                if not prefix:
                    raise invalid(
                        kind,
                        "",
                        [("metadata.name", "Required value: name or generateName is required")],
                    )
                while True:
                    candidate = f"{prefix}{random_suffix()}"
                    if (metadata.get("namespace", ""), candidate) not in self._objects[kind.kind]:
                        break
                metadata["name"] = candidate
            if not kind.namespaced:
                metadata.pop("namespace", None)
            key = (metadata.get("namespace", ""), metadata["name"])
            if key in self._objects[kind.kind]:
                raise already_exists(kind, metadata["name"])
            obj["apiVersion"] = kind.api_version
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = rfc3339()
            metadata.setdefault("generation", 1)
            for transient in ("resourceVersion", "deletionTimestamp", "selfLink", "managedFields"):
                metadata.pop(transient, None)
            self._bump(obj)
            self._objects[kind.kind][key] = obj
            self._by_uid[metadata["uid"]] = obj
            self._created += 1
            self._creation_order[metadata["uid"]] = self._created
            return obj

    def creation_order(self, obj: dict[str, Any]) -> int:
        """Position in creation order (creationTimestamp only has second precision)."""
        return self._creation_order.get(obj["metadata"]["uid"], 0)

    def touch(self, obj: dict[str, Any]) -> None:
        """Record a change made in place to a stored object."""
        with self.lock:
            self._bump(obj)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        namespace = namespace if KINDS[kind].namespaced else ""
        return self._objects[kind].get((namespace, name))

    def require(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(kind, namespace, name)
        if obj is None:
            raise not_found(KINDS[kind], name)
        return obj

    def by_uid(self, uid: str) -> dict[str, Any] | None:
        return self._by_uid.get(uid)

    def remove(self, obj: dict[str, Any]) -> None:
        with self.lock:
            metadata = obj["metadata"]
            key = (metadata.get("namespace", ""), metadata["name"])
            if self._objects[obj["kind"]].get(key) is obj:
                del self._objects[obj["kind"]][key]
                self._by_uid.pop(metadata["uid"], None)
                self._creation_order.pop(metadata["uid"], None)
                self._resource_version += 1

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(kind, field_selector)
        with self.lock:
            found = [
                obj
                for (obj_namespace, _), obj in self._objects[kind].items()
                if (namespace is None or obj_namespace == namespace)
                and all(r.matches(obj["metadata"].get("labels") or {}) for r in labels)
                and all(_field_matches(obj, r) for r in fields)
            ]
        # A real apiserver lists in storage key order: namespace, then name.
        found.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return found

    def dependents(self, owner_uid: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                obj
                for objects in self._objects.values()
                for obj in objects.values()
                if any(
                    ref.get("uid") == owner_uid
                    for ref in obj["metadata"].get("ownerReferences") or []
                )
            ]

    def all_objects(self) -> Iterable[dict[str, Any]]:
        with self.lock:
            return [obj for objects in self._objects.values() for obj in objects.values()]


def public_copy(obj: dict[str, Any]) -> dict[str, Any]:
    """What a client sees: a deep copy, without the emulator's private bookkeeping."""
    return copy.deepcopy(obj)


class EventRecorder:
    """Writes ``v1 Event`` objects about other objects, aggregating repeats like the apiserver."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._last_stamp = 0

    def _next_event_stamp(self) -> int:
        self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
        return self._last_stamp

    def record(
        self,
        obj: dict[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str,
        host: str | None = None,
    ) -> dict[str, Any]:
        kind = KINDS[obj["kind"]]
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") or "default"
        with self._store.lock:
            now = rfc3339()
            for event in self._store.list("Event", namespace):
                involved = event["involvedObject"]
                if (
                    involved.get("uid") == metadata["uid"]
                    and event["reason"] == reason
                    and event["message"] == message
                ):
                    event["count"] += 1
                    event["lastTimestamp"] = now
                    self._store.touch(event)
                    return event
            source: dict[str, str] = {"component": component}
            if host:
                source["host"] = host
            event = {
                "kind": "Event",
                "metadata": {
                    # <object>.<hex UnixNano>, as a kubelet names them: listed chronologically.
                    "name": f"{metadata['name']}.{self._next_event_stamp():x}",
                    "namespace": namespace,
                },
                "involvedObject": {
                    "kind": kind.kind,
                    "namespace": metadata.get("namespace"),
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                    "apiVersion": kind.api_version,
                    "resourceVersion": metadata.get("resourceVersion"),
                },
                "reason": reason,
                "message": message,
                "source": source,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": "Warning" if warning else "Normal",
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host or "",
            }
            return self._store.create(event)
