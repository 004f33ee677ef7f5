"""RBAC authorization: Roles, ClusterRoles and their bindings, as the apiserver evaluates them.

A request is allowed when any rule of any role bound to the user (RoleBindings in the
request's namespace, ClusterRoleBindings everywhere) matches its verb, API group,
resource (``pods`` or ``pods/log`` for a subresource) and, when the rule names them,
the resource name. Nothing else is allowed: RBAC has no deny rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .store import ApiError, Store


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False

    @classmethod
    def service_account(cls, namespace: str, name: str) -> User:
        return cls(
            f"system:serviceaccount:{namespace}:{name}",
            (
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ),
        )

    @property
    def service_account_ref(self) -> tuple[str, str] | None:
        parts = self.name.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, in RBAC's terms."""

    verb: str
    group: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None

    @property
    def resource_with_subresource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _rule_allows(rule: dict[str, Any], attributes: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.group not in groups:
        return False
    wanted = attributes.resource_with_subresource
    resources = rule.get("resources") or []
    resource_ok = any(
        r == "*" or r == wanted or (attributes.subresource and r == f"*/{attributes.subresource}")
        for r in resources
    )
    if not resource_ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


def _subject_matches(subject: dict[str, Any], user: User, binding_namespace: str | None) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        ref = user.service_account_ref
        namespace = subject.get("namespace") or binding_namespace
        return ref == (namespace, subject.get("name"))
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    return False


class Authorizer:
    def __init__(self, store: Store) -> None:
        self._store = store

    def allowed(self, user: User, attributes: Attributes) -> bool:
        if user.admin:
            return True
        with self._store.lock:
            return any(_rule_allows(rule, attributes) for rule in self._rules_for(user, attributes))

    def _rules_for(self, user: User, attributes: Attributes):
        bindings: list[tuple[dict[str, Any], str | None]] = [
            (b, None) for b in self._store.list("ClusterRoleBinding")
        ]
        if attributes.namespace:
            bindings += [
                (b, attributes.namespace)
                for b in self._store.list("RoleBinding", attributes.namespace)
            ]
        for binding, namespace in bindings:
            if not any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "Role" and namespace:
                role = self._store.get("Role", namespace, ref.get("name", ""))
            elif ref.get("kind") == "ClusterRole":
                role = self._store.get("ClusterRole", "", ref.get("name", ""))
            else:
                role = None
            if role is not None:
                yield from role.get("rules") or []

    def check(self, user: User, attributes: Attributes) -> None:
        if not self.allowed(user, attributes):
            raise forbidden(user, attributes)


def forbidden(user: User, attributes: Attributes) -> ApiError:
    """403 with the apiserver's exact wording."""
    qualified = (
        f"{attributes.resource}.{attributes.group}" if attributes.group else attributes.resource
    )
    subject = f'{qualified} "{attributes.name}"' if attributes.name else qualified
    where = (
        f'in the namespace "{attributes.namespace}"'
        if attributes.namespace
        else "at the cluster scope"
    )
    message = (
        f'{subject} is forbidden: User "{user.name}" cannot {attributes.verb} resource '
        f'"{attributes.resource_with_subresource}" in API group "{attributes.group}" {where}'
    )
    details: dict[str, Any] = {"kind": attributes.resource}
    if attributes.name:
        details["name"] = attributes.name
    if attributes.group:
        details["group"] = attributes.group
    return ApiError(403, "Forbidden", message, details)
