"""Shared pieces of the production tests.

The real `helm` binary and the `helm_binary` / `helm` fixtures live in
``tests/fixtures/helm.py`` (a plugin of every test, shared with the production
rehearsal in ``tests/rehearsal/``); the names are re-exported here for the
modules that import them from this conftest.
"""

from __future__ import annotations

from tests.fixtures.helm import (  # noqa: F401 - re-exported
    HELM_DIR,
    K8S_VERSION,
    NAMESPACE,
    REPO_ROOT,
    Helm,
    extract_helm,
)


def validate_strict(manifest: dict) -> str:
    """Validate one manifest strictly (no unknown fields) against K8S_VERSION.

    An unknown kind is an error here, not a warning: every manifest must be checked.
    """
    import kubernetes_validate

    return kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
