"""Scheduling: resource quantities, pod requests, and which node a pod fits on.

The filters run in kube-scheduler's order (NodeUnschedulable, TaintToleration,
NodeAffinity, NodeResourcesFit) and a node is rejected by the first that fails, so
the "0/N nodes are available: ..." message counts the same reasons a cluster would.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

from .store import Requirement

_SUFFIXES = {
    "Ki": Decimal(1024),
    "Mi": Decimal(1024**2),
    "Gi": Decimal(1024**3),
    "Ti": Decimal(1024**4),
    "Pi": Decimal(1024**5),
    "Ei": Decimal(1024**6),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$"
)


# Resources a node may leave out of its allocatable without refusing pods that request them.
_NODE_OPTIONAL = frozenset({"cpu", "memory", "ephemeral-storage"})


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity: ``250m`` -> 0.25, ``1536Mi`` -> 1610612736, ``2Gi``, ``1e3``."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}"
        )
    number, exponent, suffix = match.groups()
    if exponent:
        return Decimal(number + exponent)
    return Decimal(number) * _SUFFIXES[suffix or ""]


def memory_bytes(value: str | int | float | None) -> int | None:
    if value is None:
        return None
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


def container_requests(container: dict[str, Any]) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    # An unset request defaults to the limit (the apiserver's defaulting does this).
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: parse_quantity(q) for name, q in merged.items()}


def pod_requests(spec: dict[str, Any]) -> dict[str, Decimal]:
    """Effective requests: the sum over containers, or the largest init container if larger."""
    total: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        total.update(container_requests(container))
    for init in spec.get("initContainers") or []:
        for name, amount in container_requests(init).items():
            total[name] = max(total[name], amount)
    for name, amount in (spec.get("overhead") or {}).items():
        total[name] += parse_quantity(amount)
    return dict(total)


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key")
        if operator == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (toleration.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def _term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in term.get("matchExpressions") or []:
        operator = expression["operator"]
        if operator in operators:
            requirement = Requirement(
                expression["key"], operators[operator], tuple(expression.get("values") or ())
            )
            if not requirement.matches(labels):
                return False
        else:  # Gt / Lt
            value = labels.get(expression["key"])
            bound = int((expression.get("values") or ["0"])[0])
            if value is None or not value.lstrip("-").isdigit():
                return False
            if (operator == "Gt" and not int(value) > bound) or (
                operator == "Lt" and not int(value) < bound
            ):
                return False
    for expression in term.get("matchFields") or []:
        requirement = Requirement(
            expression["key"].replace("metadata.name", "__name__"),
            operators[expression["operator"]],
            tuple(expression.get("values") or ()),
        )
        if not requirement.matches({"__name__": node["metadata"]["name"]}):
            return False
    return True


def _affinity_matches(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required:
        terms = required.get("nodeSelectorTerms") or []
        if not any(_term_matches(term, node) for term in terms):
            return False
    return True


def node_allocatable(node: dict[str, Any]) -> dict[str, Decimal]:
    status = node.get("status") or {}
    amounts = status.get("allocatable") or status.get("capacity") or {}
    return {name: parse_quantity(q) for name, q in amounts.items()}


def _reasons_against(
    pod: dict[str, Any], node: dict[str, Any], used: dict[str, Decimal], pod_count: int
) -> list[str]:
    spec = pod.get("spec") or {}
    if (node.get("spec") or {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    tolerations = spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            value = taint.get("value")
            shown = f"{{{taint['key']}: {value}}}" if value else f"{{{taint['key']}: }}"
            return [f"node(s) had untolerated taint {shown}"]
    if not _affinity_matches(spec, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    allocatable = node_allocatable(node)
    reasons = []
    if "pods" in allocatable and pod_count + 1 > allocatable["pods"]:
        reasons.append("Too many pods")
    for name, amount in sorted(pod_requests(spec).items()):
        if amount <= 0 or (name not in allocatable and name in _NODE_OPTIONAL):
            continue
        if name not in allocatable:  # an extended resource (a GPU) the node does not have
            reasons.append(f"Insufficient {name}")
            continue
        if used.get(name, Decimal(0)) + amount > allocatable[name]:
            reasons.append(f"Insufficient {name}")
    return reasons


def choose_node(
    pod: dict[str, Any],
    nodes: list[dict[str, Any]],
    usage: dict[str, dict[str, Decimal]],
    pod_counts: dict[str, int],
) -> tuple[dict[str, Any] | None, str]:
    """The node to bind ``pod`` to (the least requested one that fits), or None and why not."""
    if not nodes:
        return None, "no nodes available to schedule pods"
    fitting: list[dict[str, Any]] = []
    histogram: Counter[str] = Counter()
    for node in nodes:
        name = node["metadata"]["name"]
        reasons = _reasons_against(pod, node, usage.get(name, {}), pod_counts.get(name, 0))
        if reasons:
            histogram.update(reasons)
        else:
            fitting.append(node)
    if fitting:

        def load(node: dict[str, Any]) -> tuple[Decimal, str]:
            allocatable = node_allocatable(node)
            used = usage.get(node["metadata"]["name"], {})
            share = max(
                (
                    used.get(r, Decimal(0)) / allocatable[r]
                    for r in ("cpu", "memory")
                    if allocatable.get(r)
                ),
                default=Decimal(0),
            )
            return share, node["metadata"]["name"]

        return min(fitting, key=load), ""
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    return None, f"0/{len(nodes)} nodes are available: {', '.join(parts)}."
