"""The production config exactly as the documented install creates it: its commands, rendered.

The "Install with Helm" section of ``docs/production.md`` (the README links
there) is the install procedure. Its shell
block is parsed command by command (``docker build``, ``kubectl create
namespace``, ``kubectl create secret generic --from-literal``, ``helm upgrade
--install``, ``kubectl port-forward``), so a change to the documented steps
flows into the rehearsal; a command this module does not understand fails
loudly. Placeholders such as ``<password>`` or ``<registry>`` are filled from
one mapping the caller gives (over :data:`DEFAULT_PLACEHOLDERS`); an unfilled
one is an error.

The helm releases are rendered by the real ``helm`` (``tests/fixtures/helm.py``),
with the documented ``-n``, ``-f`` and ``--set`` flags, and the kubectl commands
become the objects kubectl would create (a Namespace, Opaque Secrets).
"""

from __future__ import annotations

import base64
import copy
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.helm import REPO_ROOT, Helm, cached_helm

# The install procedure: docs/production.md, linked from the README.
INSTALL_DOC = REPO_ROOT / "docs" / "production.md"
INSTALL_HEADING = "### Install with Helm"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "rt-lake-rehearsal"
# Values for the placeholders the rehearsal does not need to choose itself.
# The registry is never contacted: image references only name image dirs.
DEFAULT_PLACEHOLDERS = {
    "registry": "rehearsal.invalid",
    "log bucket": "rt-lake-rehearsal-logs",
}
PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9 _.-]*)>")


class InstallStepsError(ValueError):
    """The documented install steps could not be turned into objects and helm calls."""


@dataclass(frozen=True)
class ImageBuild:
    dockerfile: str  # relative to the repository root
    tag: str
    context: str


@dataclass(frozen=True)
class SecretStep:
    name: str
    namespace: str
    literals: dict[str, str]

    def manifest(self) -> dict:
        """The Secret `kubectl create secret generic --from-literal` creates."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in self.literals.items()},
        }


@dataclass(frozen=True)
class HelmRelease:
    release: str
    chart: str  # relative to the repository root
    namespace: str
    values: tuple[str, ...]
    sets: tuple[str, ...]


@dataclass(frozen=True)
class InstallSteps:
    images: list[ImageBuild]
    namespaces: list[str]
    secrets: list[SecretStep]
    releases: list[HelmRelease]
    port_forwards: list[list[str]]
    placeholders: dict[str, str]  # the ones the commands use, as filled in

    def manifests(self) -> list[dict]:
        """What the kubectl steps create, in order: Namespaces, then Secrets."""
        namespaces = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
            for n in self.namespaces
        ]
        return namespaces + [s.manifest() for s in self.secrets]


def install_section(doc: Path = INSTALL_DOC) -> str:
    """The shell code of the "Install with Helm" section."""
    text = doc.read_text()
    start = text.find("\n" + INSTALL_HEADING + "\n")
    if start == -1:
        raise InstallStepsError(f"{doc}: no {INSTALL_HEADING!r} section")
    lines = []
    fenced = False
    for line in text[start + len(INSTALL_HEADING) + 2 :].splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,3} ", line):
            break  # the next heading (a `# comment` inside a code block is not one)
        lines.append(line)
    section = "".join(lines)
    blocks = re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", section, flags=re.M | re.S)
    if len(blocks) != 1:
        raise InstallStepsError(
            f"{doc}: expected one ```bash block under {INSTALL_HEADING!r}, found {len(blocks)}"
        )
    return blocks[0]


def _logical_lines(code: str) -> list[str]:
    lines: list[str] = []
    buf = ""
    for raw in code.splitlines():
        if not buf and raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        if buf.strip():
            lines.append(buf.strip())
        buf = ""
    if buf.strip():
        raise InstallStepsError(f"install steps end inside a line continuation: {buf!r}")
    return lines


def _split(
    line: str, fill: Mapping[str, str], used: dict[str, str], lenient: bool = False
) -> list[str]:
    """Shell words of one command, placeholders filled in after splitting (a value may
    hold quotes or spaces; `<log bucket>` itself is not even valid shell)."""
    tokens: dict[str, str] = {}

    def to_token(m: re.Match) -> str:
        token = f"RTLAKEPLACEHOLDER{len(tokens)}X"
        tokens[token] = m.group(1)
        return token

    words = shlex.split(PLACEHOLDER.sub(to_token, line), comments=True)
    out = []
    for word in words:
        for token, name in tokens.items():
            if token in word:
                if name not in fill and lenient:
                    word = word.replace(token, f"<{name}>")
                    continue
                if name not in fill:
                    raise InstallStepsError(
                        f"placeholder <{name}> in the install steps has no value: "
                        f"pass it in the placeholders mapping (command: {line})"
                    )
                used[name] = fill[name]
                word = word.replace(token, fill[name])
        out.append(word)
    return out


def _take(words: list[str], i: int, line: str) -> str:
    if i >= len(words):
        raise InstallStepsError(f"{words[i - 1]} needs a value in: {line}")
    return words[i]


def _parse_docker(words: list[str], line: str) -> ImageBuild:
    if words[1:2] != ["build"]:
        raise InstallStepsError(f"unknown docker command: {line}")
    dockerfile = tag = None
    positional = []
    i = 2
    while i < len(words):
        w = words[i]
        if w in ("-f", "--file"):
            i += 1
            dockerfile = _take(words, i, line)
        elif w in ("-t", "--tag"):
            i += 1
            tag = _take(words, i, line)
        elif w.startswith("-"):
            raise InstallStepsError(f"docker build option {w} not understood: {line}")
        else:
            positional.append(w)
        i += 1
    if not dockerfile or not tag or len(positional) != 1:
        raise InstallStepsError(f"docker build needs -f, -t and one context: {line}")
    return ImageBuild(dockerfile, tag, positional[0])


def _parse_kubectl(words: list[str], line: str, steps: dict) -> None:
    namespace = None
    rest = []
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("-n", "--namespace"):
            i += 1
            namespace = _take(words, i, line)
        elif w.startswith("--namespace="):
            namespace = w.split("=", 1)[1]
        else:
            rest.append(w)
        i += 1
    if rest[:2] == ["create", "namespace"] and len(rest) == 3:
        steps["namespaces"].append(rest[2])
    elif rest[:3] == ["create", "secret", "generic"] and len(rest) >= 4:
        if namespace is None:
            raise InstallStepsError(f"secret without -n: {line}")
        name = rest[3]
        literals: dict[str, str] = {}
        j = 4
        while j < len(rest):
            w = rest[j]
            if w.startswith("--from-literal="):
                item = w.split("=", 1)[1]
            elif w == "--from-literal":
                j += 1
                item = _take(rest, j, line)
            else:
                raise InstallStepsError(f"kubectl create secret option {w} not understood: {line}")
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise InstallStepsError(f"--from-literal needs KEY=VALUE: {line}")
            literals[key] = value
            j += 1
        if not literals:
            raise InstallStepsError(f"secret {name} has no --from-literal: {line}")
        steps["secrets"].append(SecretStep(name, namespace, literals))
    elif rest[:1] == ["port-forward"]:
        steps["port_forwards"].append(words)
    else:
        raise InstallStepsError(f"kubectl command not understood: {line}")


def _parse_helm(words: list[str], line: str) -> HelmRelease:
    if words[1:3] == ["upgrade", "--install"]:
        i = 3
    elif words[1:2] == ["install"]:
        i = 2
    else:
        raise InstallStepsError(
            f"helm command not understood (upgrade --install / install): {line}"
        )
    namespace = None
    values: list[str] = []
    sets: list[str] = []
    positional: list[str] = []
    while i < len(words):
        w = words[i]
        if w in ("-n", "--namespace"):
            i += 1
            namespace = _take(words, i, line)
        elif w in ("-f", "--values"):
            i += 1
            values.append(_take(words, i, line))
        elif w == "--set":
            i += 1
            sets.append(_take(words, i, line))
        elif w.startswith("--set="):
            sets.append(w.split("=", 1)[1])
        elif w.startswith("-"):
            raise InstallStepsError(f"helm option {w} not understood: {line}")
        else:
            positional.append(w)
        i += 1
    if len(positional) != 2 or namespace is None:
        raise InstallStepsError(f"helm needs a release, a chart and -n: {line}")
    return HelmRelease(positional[0], positional[1], namespace, tuple(values), tuple(sets))


def install_steps(
    placeholders: Mapping[str, str] | None = None, doc: Path = INSTALL_DOC, *, lenient: bool = False
) -> InstallSteps:
    """The documented install commands, parsed, with placeholders filled in (``lenient``:
    an unfilled one stays ``<name>`` instead of failing)."""
    fill = {**DEFAULT_PLACEHOLDERS, **(placeholders or {})}
    steps: dict = {"images": [], "namespaces": [], "secrets": [], "releases": [], "pf": []}
    steps["port_forwards"] = steps.pop("pf")
    used: dict[str, str] = {}
    for line in _logical_lines(install_section(doc)):
        try:
            words = _split(line, fill, used, lenient)
        except ValueError as exc:
            if isinstance(exc, InstallStepsError):
                raise
            raise InstallStepsError(f"not valid shell: {line}: {exc}") from None
        if not words:
            continue
        if words[0] == "docker":
            steps["images"].append(_parse_docker(words, line))
        elif words[0] == "kubectl":
            _parse_kubectl(words, line, steps)
        elif words[0] == "helm":
            steps["releases"].append(_parse_helm(words, line))
        else:
            raise InstallStepsError(f"install step not understood: {line}")
    if not steps["releases"]:
        raise InstallStepsError(f"no helm release in {INSTALL_HEADING!r}")
    return InstallSteps(placeholders=used, **steps)


def image_reference(
    dockerfile: str | Path, placeholders: Mapping[str, str] | None = None, doc: Path = INSTALL_DOC
) -> str | None:
    """The tag the install steps build ``dockerfile`` (relative to the repository root) with."""
    wanted = Path(dockerfile).as_posix()
    for build in install_steps(placeholders, doc, lenient=True).images:
        if Path(build.dockerfile).as_posix() == wanted:
            return build.tag
    return None


@dataclass
class RenderedDeployment:
    """Every object the documented install creates, in install order."""

    objects: list[dict]
    releases: dict[str, list[dict]]  # helm release name -> its rendered objects
    installed: list[dict]  # what the kubectl steps create (Namespace, Secrets)
    steps: InstallSteps = field(repr=False)

    def copy(self) -> RenderedDeployment:
        installed = copy.deepcopy(self.installed)
        releases = copy.deepcopy(self.releases)
        objects = installed + [o for rel in self.steps.releases for o in releases[rel.release]]
        return RenderedDeployment(objects, releases, installed, self.steps)

    def find(self, kind: str, name: str) -> dict | None:
        for obj in self.objects:
            if obj.get("kind") == kind and obj["metadata"]["name"] == name:
                return obj
        return None

    def get(self, kind: str, name: str) -> dict:
        obj = self.find(kind, name)
        if obj is None:
            have = sorted(o["metadata"]["name"] for o in self.objects if o.get("kind") == kind)
            raise KeyError(f"no {kind} {name!r} in the rendered deployment (there are: {have})")
        return obj

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o.get("kind") == kind]

    def remove(self, kind: str, name: str) -> dict:
        obj = self.get(kind, name)
        self.objects = [o for o in self.objects if o is not obj]
        self.installed = [o for o in self.installed if o is not obj]
        for release, objs in self.releases.items():
            self.releases[release] = [o for o in objs if o is not obj]
        return obj

    def deployment(self, name: str) -> dict:
        return self.get("Deployment", name)

    def configmap(self, name: str) -> dict:
        return self.get("ConfigMap", name)

    def secret(self, name: str) -> dict:
        return self.get("Secret", name)

    def secret_values(self, name: str) -> dict[str, str]:
        """A Secret's data, decoded."""
        data = self.secret(name).get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def images(self) -> set[str]:
        """Every container image the workloads name."""
        found = set()
        for obj in self.objects:
            if obj.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
                spec = obj["spec"]["template"]["spec"]
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    found.add(c["image"])
        return found


def helm_for(cache_dir: Path = DEFAULT_CACHE_DIR) -> Helm:
    """A Helm runner whose binary and home live under ``cache_dir``."""
    return Helm(cached_helm(cache_dir / "helm"), cache_dir / "helm-home")


def render_deployment(
    placeholders: Mapping[str, str] | None = None,
    *,
    helm: Helm | None = None,
    doc: Path = INSTALL_DOC,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> RenderedDeployment:
    """Renders what the install steps create: its secrets and namespace as kubectl creates
    them, then each helm release with its flags. Every object gets the namespace it is
    installed into (as `helm upgrade --install -n` does; `helm template` leaves it out)."""
    steps = install_steps(placeholders, doc)
    helm = helm or helm_for(cache_dir)
    installed = steps.manifests()
    releases: dict[str, list[dict]] = {}
    for rel in steps.releases:
        if rel.release in releases:
            raise InstallStepsError(f"helm release {rel.release} is installed twice")
        chart = (REPO_ROOT / rel.chart).resolve()
        values = [str((REPO_ROOT / v).resolve()) for v in rel.values]
        objs = helm.template(
            rel.release, str(chart), *values, sets=rel.sets, namespace=rel.namespace
        )
        for obj in objs:
            obj["metadata"].setdefault("namespace", rel.namespace)
        releases[rel.release] = objs
    objects = installed + [o for rel in steps.releases for o in releases[rel.release]]
    return RenderedDeployment(objects, releases, installed, steps)
