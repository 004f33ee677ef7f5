"""Assemble a container image's file tree from its Dockerfile, without a container engine.

The production rehearsal runs pods as sandboxed processes whose root is the
host's, with the image's ``rootfs/*`` bind-mounted at the same absolute paths.
This module builds that image directory::

    <cache>/<name>-<digest>/image.json   the image config (env, workdir, user, cmd, ...)
    <cache>/<name>-<digest>/rootfs/opt/  the files at their in-image paths

Every instruction of the Dockerfile is parsed for real and reproduced, or the
build fails with :class:`UnsupportedInstruction`, so a Dockerfile change can
never pass the rehearsal unnoticed:

- ``COPY`` copies from the build context (the repository root) what ``git``
  knows there (tracked files plus untracked ones that are not ignored, less
  ``.dockerignore``), so ``.venv``, ``__pycache__`` and build outputs stay out,
  except an ignored path a COPY names itself (a built ``site/dist``), which
  Docker would copy from the context as it is on disk. A missing source fails
  the build as ``docker build`` does.
- ``RUN`` commands are checked one by one (``&&`` lists only) against the
  emulations below; the ``uv`` ones run the real uv inside a private mount
  namespace where ``rootfs/opt`` is ``/opt`` (and ``rootfs/tmp`` is ``/tmp``),
  so the venv really lives at ``/opt/venv``: shebangs and ``pyvenv.cfg`` hold
  in-image paths.

Everything that differs from a Docker build is written to ``image.json``
under ``deviations``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "rt-lake-rehearsal" / "images"
# Bump when the emulation changes what an image directory holds: old caches then rebuild.
BUILDER_VERSION = 2
# Image content may only live here: the runtime bind-mounts rootfs/* over the
# host's own tree, and a rootfs/usr would hide the host's /usr (libc included).
CONTENT_ROOT = "/opt"
# Build-time scratch (a RUN may write /tmp, as in the platform image); it is
# bound at /tmp during RUN and dropped when empty.
SCRATCH_ROOT = "/tmp"
# Stands in for the base image's /usr/local, where `uv pip install --system` installs.
SYSTEM_PREFIX = "/opt/system-python"
# The environment of `FROM python:<version>-slim-bookworm` (the official image's
# config; GPG_KEY and PYTHON_SHA256 are left out, only its own build uses them).
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_IMAGE = re.compile(r"^(?:docker\.io/(?:library/)?)?python:(?P<version>3\.\d+\.\d+)-slim-\w+$")
# A build stage on the official node image (its output is taken by COPY --from).
NODE_IMAGE = re.compile(
    r"^(?:docker\.io/(?:library/)?)?node:(?P<version>\d+\.\d+\.\d+)(?:-[a-z]+)*$"
)
UV_IMAGE = re.compile(r"^ghcr\.io/astral-sh/uv:(?P<version>\d+\.\d+\.\d+)$")
# As the Dockerfiles ask (UV_COMPILE_BYTECODE=1). It costs ~2 min per image once
# (cached by digest), but without it every pod, whose /opt is read-only, compiled
# every module it imported: each of the rehearsal's ~25 step and run pods started
# tens of seconds slower than the real image would.
COMPILE_BYTECODE = True
COMPILE_BYTECODE_NOTE = (
    "UV_COMPILE_BYTECODE=1 is not honoured: compiling the venv took ~118 s on the 2-core "
    "machine (budget 60 s). Nothing is byte-compiled in the image, and with /opt read-only "
    "every process compiles the modules it imports (slower starts than the real image)"
)


NETWORK_ENV = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)


class ImageBuildError(RuntimeError):
    """The image cannot be built (what `docker build` would also refuse, or a failed step)."""


class UnsupportedInstruction(ImageBuildError):
    """A Dockerfile instruction or RUN command this emulation does not reproduce."""


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the logical line, continuations joined
    line: int  # first physical line, 1-based

    def where(self, dockerfile: str) -> str:
        return f"{dockerfile}:{self.line} ({self.keyword} {self.args[:80]})"


def parse_dockerfile(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, line continuations joined."""
    lines = text.splitlines()
    for raw in lines:
        directive = re.match(r"^#\s*(\w+)\s*=", raw)
        if not directive:
            break
        if directive.group(1).lower() == "escape":
            raise UnsupportedInstruction("the `# escape=` parser directive is not supported")
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        # Docker drops comment lines, also in the middle of a continued instruction.
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        logical = "".join(buf).strip()
        buf = []
        keyword, _, args = logical.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    if buf:
        raise ImageBuildError(f"line {start}: the Dockerfile ends inside a line continuation")
    return out


AND = object()  # the `&&` operator in a shell word list


def shell_words(text: str, env: Mapping[str, str], *, shell: bool = True) -> list:
    """Splits ``text`` into words with quotes removed and ``$VAR``/``${VAR}`` expanded
    (not inside single quotes). With ``shell``, ``&&`` becomes :data:`AND` and any other
    shell syntax (``;``, ``|``, redirections, subshells, backquotes, comments) is refused:
    a RUN line is reproduced command by command, so it must be a plain ``&&`` list."""
    words: list = []
    cur: list[str] = []
    in_word = False
    i = 0
    n = len(text)

    def expand(at: int) -> tuple[str, int]:
        if at + 1 < n and text[at + 1] == "{":
            end = text.find("}", at + 2)
            name = text[at + 2 : end] if end != -1 else ""
            if end == -1 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise UnsupportedInstruction(f"variable expansion {text[at : at + 20]!r}")
            return env.get(name, ""), end + 1
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[at + 1 :])
        if not m:
            return "$", at + 1
        return env.get(m.group(0), ""), at + 1 + m.end()

    while i < n:
        c = text[i]
        if c.isspace():
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            i += 1
        elif c == "'":
            end = text.find("'", i + 1)
            if end == -1:
                raise ImageBuildError(f"unterminated single quote in {text!r}")
            cur.append(text[i + 1 : end])
            in_word, i = True, end + 1
        elif c == '"':
            i += 1
            in_word = True
            while True:
                if i >= n:
                    raise ImageBuildError(f"unterminated double quote in {text!r}")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                    cur.append(text[i + 1])
                    i += 2
                elif c == "$":
                    value, i = expand(i)
                    cur.append(value)
                elif c == "`" and shell:
                    raise UnsupportedInstruction(f"command substitution in {text!r}")
                else:
                    cur.append(c)
                    i += 1
        elif c == "\\" and i + 1 < n:
            cur.append(text[i + 1])
            in_word, i = True, i + 2
        elif c == "$":
            if shell and text.startswith("$(", i):
                raise UnsupportedInstruction(f"command substitution in {text!r}")
            value, i = expand(i)
            cur.append(value)
            in_word = True
        elif shell and text.startswith("&&", i):
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            words.append(AND)
            i += 2
        elif shell and (c in ";|&<>()`" or (c == "#" and not in_word)):
            raise UnsupportedInstruction(
                f"shell syntax {c!r} in {text!r}: only `cmd && cmd` lists are reproduced"
            )
        else:
            cur.append(c)
            in_word, i = True, i + 1
    if in_word:
        words.append("".join(cur))
    return words


def _exec_form(args: str) -> list[str] | None:
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


# --------------------------------------------------------------------------- build context


def _dockerignore(context: Path) -> list[tuple[bool, re.Pattern]]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip() if negate else line
        pattern = os.path.normpath(pattern).lstrip("/")
        rules.append((negate, re.compile(_glob_regex(pattern))))
    return rules


def _glob_regex(pattern: str) -> str:
    """Docker's (Go filepath.Match plus ``**``) path pattern as a regular expression."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        elif c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _excluded(rel: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    if not rules:
        return False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    excluded = False
    for negate, rx in rules:
        if any(rx.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


@dataclass
class BuildContext:
    """The files a COPY may take: git's view of the context, less .dockerignore."""

    root: Path
    files: set[str]  # relative POSIX paths
    rules: list[tuple[bool, re.Pattern]]

    @classmethod
    def of(cls, root: Path) -> BuildContext:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-c", "-o", "--exclude-standard", "-z"],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ImageBuildError(f"the build context {root} is not a git checkout: {proc.stderr}")
        rules = _dockerignore(root)
        files = {
            rel
            for rel in proc.stdout.decode().split("\0")
            if rel and os.path.lexists(root / rel) and not _excluded(rel, rules)
        }
        return cls(root, files, rules)

    def resolve(self, source: str, where: str) -> list[tuple[str, str]]:
        """(context path, path relative to what the source names) of every file a
        COPY source brings; a missing source fails as `docker build` does."""
        clean = os.path.normpath(source.lstrip("/")) if source.strip("/") else "."
        if clean == ".." or clean.startswith("../"):
            raise ImageBuildError(f"{where}: COPY source {source!r} is outside the build context")
        if any(ch in clean for ch in "*?["):
            return self._resolve_glob(clean, source, where)
        if clean == ".":
            return sorted((rel, rel) for rel in self.files)
        if clean in self.files:
            return [(clean, PurePosixPath(clean).name)]
        prefix = clean + "/"
        under = sorted((rel, rel[len(prefix) :]) for rel in self.files if rel.startswith(prefix))
        if under:
            return under
        on_disk = self.root / clean
        if os.path.lexists(on_disk) and not _excluded(clean, self.rules):
            # Ignored by git (a build output), but named by the COPY itself:
            # Docker copies what the context holds, so do we.
            if on_disk.is_dir() and not on_disk.is_symlink():
                found = []
                for dirpath, _dirs, names in os.walk(on_disk):
                    for name in names:
                        rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                        if not _excluded(rel, self.rules):
                            found.append((rel, rel[len(prefix) :]))
                return sorted(found)
            return [(clean, PurePosixPath(clean).name)]
        raise ImageBuildError(
            f"{where}: COPY failed: file not found in build context or excluded by "
            f".dockerignore: stat {clean}: file does not exist"
        )

    def _resolve_glob(self, pattern: str, source: str, where: str) -> list[tuple[str, str]]:
        depth = len(pattern.split("/"))
        matched: dict[str, list[tuple[str, str]]] = {}
        for rel in sorted(self.files):
            parts = rel.split("/")
            if len(parts) < depth:
                continue
            head = "/".join(parts[:depth])
            segments = zip(parts[:depth], pattern.split("/"), strict=True)
            if all(fnmatch.fnmatchcase(p, q) for p, q in segments):
                name = parts[depth - 1]
                rest = "/".join(parts[depth:])
                # A matched file lands under its own name; a matched folder's
                # contents are copied into the destination (as Docker does).
                matched.setdefault(head, []).append((rel, rest if rest else name))
        if not matched:
            raise ImageBuildError(
                f"{where}: COPY failed: no source files were specified (pattern {source!r})"
            )
        return [item for head in sorted(matched) for item in matched[head]]


# --------------------------------------------------------------------------- the host's tools


@dataclass(frozen=True)
class HostTools:
    uv: Path
    uv_version: str
    uv_cache: Path
    python: Path  # the interpreter that stands in for the base image's
    python_version: str
    python_prefix: Path  # what the runtime must expose (host_paths)
    node_version: str | None = None  # only when a build stage needs node

    @classmethod
    def find(cls, python_minor: str, node: bool = False) -> HostTools:
        # `uv run` (how the tests start) says where its binary is; a shell's `uv`
        # may be a pyenv shim, a script that needs the caller's environment.
        uv = os.environ.get("UV") or shutil.which("uv")
        if not uv:
            raise ImageBuildError("uv is not on PATH")
        version = _check([uv, "--version"]).split()[1]
        cache = Path(_check([uv, "cache", "dir"]).strip())
        python = _check([uv, "python", "find", "--system", "--no-project", python_minor]).strip()
        info = json.loads(
            _check(
                [
                    python,
                    "-c",
                    "import json, platform, sys;"
                    "print(json.dumps([platform.python_version(), sys.base_prefix]))",
                ]
            )
        )
        node_version = None
        if node:
            if shutil.which("node") is None or shutil.which("npm") is None:
                raise ImageBuildError("a build stage needs node and npm, which are not installed")
            node_version = _check(["node", "--version"]).strip().lstrip("v")
        return cls(Path(uv), version, cache, Path(python), info[0], Path(info[1]), node_version)

    def fingerprint(self) -> str:
        node = f"; node {self.node_version}" if self.node_version else ""
        return f"uv {self.uv_version}; python {self.python_version} at {self.python}{node}"


def _check(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageBuildError(f"{' '.join(argv)} failed:\n{proc.stderr}")
    return proc.stdout


# --------------------------------------------------------------------------- the plan


@dataclass
class BuildState:
    """What a step of the build sees and changes."""

    rootfs: Path  # the file tree of the stage the current step belongs to
    tools: HostTools
    roots: dict[str, Path] = field(default_factory=dict)  # stage key -> its file tree
    users: list[dict] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)
    system_env_added: bool = False


Action = Callable[[BuildState], None]


@dataclass
class Stage:
    """One FROM ... of the Dockerfile, while it is being planned."""

    key: str  # its AS name, else its index
    kind: str  # "python" or "node"
    base: str
    version: str
    final: bool
    base_env: dict[str, str]
    env: dict[str, str]
    workdir: str = "/"


@dataclass
class Plan:
    """A Dockerfile, understood: the image config and the steps that fill rootfs."""

    name: str
    dockerfile: str  # relative to the context where possible
    base: str
    python_minor: str
    base_env: dict[str, str]
    env: dict[str, str]  # exactly what the Dockerfile's ENV makes of the base env
    workdir: str
    user: str | None
    entrypoint: list[str] | None
    cmd: list[str] | None
    exposed_ports: list[str]
    steps: list[tuple[str, str, Action]]  # (where, stage key, action)
    stages: list[Stage]  # the final one last
    copied: list[tuple[str, Path]]  # (in-image path, host file), for the digest
    tools_used: dict[str, dict]
    deviations: list[str]


def _in_image(path: str, workdir: str) -> str:
    joined = path if path.startswith("/") else f"{workdir.rstrip('/')}/{path}"
    norm = os.path.normpath(joined)
    return "/" if norm == "//" else norm


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _host(rootfs: Path, in_image: str) -> Path:
    return rootfs / in_image.lstrip("/")


def _require_content_path(path: str, where: str, what: str, final: bool = True) -> None:
    """Content of the final image stays under /opt; an earlier stage is a scratch
    folder whose files only reach the image through COPY --from."""
    if final and not (_under(path, CONTENT_ROOT) or _under(path, SCRATCH_ROOT)):
        raise UnsupportedInstruction(
            f"{where}: {what} {path} is outside {CONTENT_ROOT}: the emulated image keeps all "
            f"its content under {CONTENT_ROOT} (a rootfs/{path.strip('/').split('/')[0]} "
            "bind-mounted by the runtime would hide the host's own files)"
        )


def plan_image(dockerfile: Path, context: Path) -> Plan:
    """Reads the Dockerfile and decides every step; fails on anything it cannot reproduce,
    before a single file is written."""
    context = context.resolve()
    dockerfile = dockerfile if dockerfile.is_absolute() else context / dockerfile
    try:
        shown = str(dockerfile.resolve().relative_to(context))
    except ValueError:
        shown = str(dockerfile)
    name = dockerfile.name.removesuffix(".Dockerfile").removesuffix("Dockerfile") or "image"
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip(".-") or "image"
    instructions = parse_dockerfile(dockerfile.read_text())
    ctx = BuildContext.of(context)

    froms = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    if not froms:
        raise ImageBuildError(f"{shown}: no FROM")
    if froms[0] != 0:
        raise ImageBuildError(f"{instructions[0].where(shown)}: instruction before FROM")
    stages: list[Stage] = []
    stage: Stage | None = None
    user = None
    entrypoint = None
    cmd = None
    ports: list[str] = []
    steps: list[tuple[str, str, Action]] = []
    copied: list[tuple[str, Path]] = []
    tools: dict[str, dict] = {}
    deviations: list[str] = []

    for number, ins in enumerate(instructions):
        where = ins.where(shown)
        if ins.keyword == "FROM":
            stage = _plan_from(ins, where, len(stages), final=number == froms[-1], known=stages)
            stages.append(stage)
            if not stage.final:
                deviations.append(
                    f"build stage {stage.key!r} ({stage.base}) runs in a scratch folder with the "
                    f"host's {stage.kind}, not in its image; only what COPY --from takes from it "
                    "enters the image"
                )
            continue
        assert stage is not None
        if ins.keyword == "ENV":
            words = shell_words(ins.args, stage.env, shell=False)
            if words and "=" not in words[0]:
                # Legacy `ENV key value` form: the rest of the line is the value.
                key, _, value = ins.args.partition(" ")
                updates = {key: " ".join(shell_words(value, stage.env, shell=False))}
            else:
                updates = {}
                for word in words:
                    key, eq, value = word.partition("=")
                    if not eq or not key:
                        raise ImageBuildError(f"{where}: ENV word {word!r} is not key=value")
                    updates[key] = value
            # Every substitution in one ENV uses the values from before it.
            stage.env.update(updates)
        elif ins.keyword == "WORKDIR":
            words = shell_words(ins.args, stage.env, shell=False)
            if len(words) != 1:
                raise ImageBuildError(f"{where}: WORKDIR takes one path")
            stage.workdir = _in_image(words[0], stage.workdir)
            _require_content_path(stage.workdir, where, "WORKDIR", stage.final)
            steps.append((where, stage.key, _mkdir_action(stage.workdir)))
        elif ins.keyword == "COPY":
            _plan_copy(ins, where, ctx, stage, stages, steps, copied, tools, deviations)
        elif ins.keyword == "RUN":
            _plan_run(ins, where, stage, steps, deviations)
        elif not stage.final:
            raise UnsupportedInstruction(
                f"{where}: instruction {ins.keyword} in build stage {stage.key!r} is not "
                "reproduced by tests/rehearsal/image.py"
            )
        elif ins.keyword == "USER":
            words = ins.args.split()
            if len(words) != 1:
                raise ImageBuildError(f"{where}: USER takes one user[:group]")
            user = words[0]
        elif ins.keyword == "EXPOSE":
            for word in shell_words(ins.args, stage.env, shell=False):
                ports.append(word if "/" in word else f"{word}/tcp")
        elif ins.keyword in ("CMD", "ENTRYPOINT"):
            argv = _exec_form(ins.args)
            if argv is None:
                argv = ["/bin/sh", "-c", ins.args]
            if ins.keyword == "CMD":
                cmd = argv
            else:
                entrypoint = argv
                cmd = None  # Docker resets CMD when ENTRYPOINT is set after it
        else:
            raise UnsupportedInstruction(
                f"{where}: instruction {ins.keyword} is not reproduced by tests/rehearsal/image.py"
            )
    final = stages[-1]
    if final.kind != "python":
        raise UnsupportedInstruction(
            f"{shown}: the final stage must be FROM python:<x.y.z>-slim-<debian>, not {final.base}"
        )
    return Plan(
        name=name,
        dockerfile=shown,
        base=final.base,
        python_minor=".".join(final.version.split(".")[:2]),
        base_env=final.base_env,
        env=final.env,
        workdir=final.workdir,
        user=user,
        entrypoint=entrypoint,
        cmd=cmd,
        exposed_ports=ports,
        steps=steps,
        stages=stages,
        copied=copied,
        tools_used=tools,
        deviations=deviations,
    )


def _plan_from(ins: Instruction, where: str, index: int, final: bool, known: list[Stage]) -> Stage:
    words = ins.args.split()
    if len(words) == 3 and words[1].lower() == "as":
        key = words[2]
        if any(s.key == key for s in known):
            raise ImageBuildError(f"{where}: duplicate stage name {key!r}")
    elif len(words) == 1:
        key = str(index)
    else:
        raise UnsupportedInstruction(f"{where}: FROM {ins.args!r} (flags are not reproduced)")
    if m := BASE_IMAGE.match(words[0]):
        version = m.group("version")
        base_env = {"PATH": BASE_PATH, "LANG": "C.UTF-8", "PYTHON_VERSION": version}
        kind = "python"
    elif (m := NODE_IMAGE.match(words[0])) and not final:
        version = m.group("version")
        base_env = {"PATH": BASE_PATH, "NODE_VERSION": version}
        kind = "node"
    else:
        raise UnsupportedInstruction(
            f"{where}: base image {words[0]!r}: reproduced are python:<x.y.z>-slim-<debian> "
            "(by the host's Python of the same minor version) and, for a build stage, "
            "node:<x.y.z>[-variant] (by the host's node)"
        )
    return Stage(key, kind, words[0], version, final, base_env, dict(base_env))


def _plan_copy(ins, where, ctx, stage, stages, steps, copied, tools, deviations) -> None:
    if _exec_form(ins.args) is not None:
        raise UnsupportedInstruction(f"{where}: the JSON form of COPY is not reproduced")
    words = shell_words(ins.args, stage.env, shell=False)
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    if len(paths) < 2:
        raise ImageBuildError(f"{where}: COPY needs a source and a destination")
    *sources, dest = paths
    from_flags = [f for f in flags if f.startswith("--from=")]
    other_flags = [f for f in flags if not f.startswith("--from=")]
    if other_flags:
        raise UnsupportedInstruction(f"{where}: COPY flags {other_flags} are not reproduced")
    many = len(sources) > 1 or any(ch in s for s in sources for ch in "*?[")
    if many and not dest.endswith("/"):
        raise ImageBuildError(
            f"{where}: When using COPY with more than one source file, the destination must "
            "be a directory and end with a /"
        )
    dest_path = _in_image(dest, stage.workdir)
    if from_flags:
        origin = from_flags[0].split("=", 1)[1]
        earlier = [s for s in stages if s.key == origin and s is not stage]
        if earlier:
            _require_content_path(dest_path, where, "COPY destination", stage.final)
            steps.append(
                (where, stage.key, _copy_from_stage(origin, sources, dest, dest_path, many, where))
            )
            return
        _plan_copy_uv(origin, sources, dest_path, where, stage, steps, tools, deviations)
        return
    _require_content_path(dest_path, where, "COPY destination", stage.final)
    pairs: list[tuple[Path, str]] = []
    for source in sources:
        for rel, inner in ctx.resolve(source, where):
            host = ctx.root / rel
            names_file = inner == PurePosixPath(rel).name and rel == os.path.normpath(
                source.strip("/")
            )
            if names_file and not many and not dest.endswith("/"):
                target = dest_path  # COPY file newname
            else:
                target = _in_image(inner, dest_path)
            pairs.append((host, target))
    prefix = "" if stage.final else f"stage {stage.key}:"
    copied.extend((prefix + target, host) for host, target in pairs)

    def copy(state: BuildState, pairs=pairs) -> None:
        for host, target in pairs:
            _copy_file(host, _host(state.rootfs, target))

    steps.append((where, stage.key, copy))


def _copy_file(src: Path, out: Path) -> None:
    _makedirs(out.parent)
    if src.is_symlink():
        if out.exists() or out.is_symlink():
            out.unlink()
        out.symlink_to(os.readlink(src))
    else:
        shutil.copy2(src, out)


def _copy_from_stage(origin, sources, dest, dest_path, many, where) -> Action:
    def copy(state: BuildState) -> None:
        root = state.roots[origin]
        for source in sources:
            src = _host(root, _in_image(source, "/"))
            if not os.path.lexists(src):
                raise ImageBuildError(
                    f"{where}: COPY --from={origin} failed: {source} does not exist in stage "
                    f"{origin!r}"
                )
            if src.is_dir() and not src.is_symlink():
                # A folder's contents go into the destination, as Docker does.
                for dirpath, _dirs, names in os.walk(src):
                    for name in names:
                        file = Path(dirpath) / name
                        inner = file.relative_to(src).as_posix()
                        _copy_file(file, _host(state.rootfs, _in_image(inner, dest_path)))
            elif many or dest.endswith("/"):
                _copy_file(src, _host(state.rootfs, _in_image(src.name, dest_path)))
            else:
                _copy_file(src, _host(state.rootfs, dest_path))

    return copy


def _plan_copy_uv(origin, sources, in_image, where, stage, steps, tools, deviations) -> None:
    m = UV_IMAGE.match(origin)
    if not m or sources != ["/uv"] or stage.kind != "python":
        raise UnsupportedInstruction(
            f"{where}: COPY --from={origin} {' '.join(sources)}: reproduced are COPY --from an "
            "earlier stage and the uv binary from ghcr.io/astral-sh/uv:<version>"
        )
    wanted = m.group("version")

    def use_host_uv(state: BuildState) -> None:
        if state.tools.uv_version != wanted:
            raise ImageBuildError(
                f"{where}: the image takes uv {wanted}, the host has uv "
                f"{state.tools.uv_version}: install uv {wanted} here (the Makefile pins it)"
            )

    if stage.final:
        tools["uv"] = {"image_path": in_image, "version": wanted}
        deviations.append(
            f"uv {wanted} ({in_image} in the image) is not copied into rootfs: image content "
            f"stays under {CONTENT_ROOT}; the build runs the host's uv of the same version"
        )
    steps.append((where, stage.key, use_host_uv))


def _makedirs(path: Path) -> None:
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        d.chmod(0o755)  # as Docker creates them, whatever the umask


def _mkdir_action(in_image: str) -> Action:
    def mkdir(state: BuildState) -> None:
        _makedirs(_host(state.rootfs, in_image))

    return mkdir


# RUN commands ------------------------------------------------------------------


def _split_and(words: list, where: str) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for word in words:
        if word is AND:
            if not commands[-1]:
                raise ImageBuildError(f"{where}: empty command before &&")
            commands.append([])
        else:
            commands[-1].append(word)
    if not commands[-1]:
        raise ImageBuildError(f"{where}: empty command")
    return commands


def _plan_run(ins, where, stage, steps, deviations) -> None:
    if _exec_form(ins.args) is not None:
        raise UnsupportedInstruction(f"{where}: the exec form of RUN is not reproduced")
    # The commands see the stage as it is now (a later ENV or WORKDIR does not apply).
    now = dataclasses.replace(stage, env=dict(stage.env))
    commands = RUN_COMMANDS[stage.kind]
    for argv in _split_and(shell_words(ins.args, now.env), where):
        key = argv[0]
        if argv[0] in ("uv", "npm") and len(argv) > 1:
            key = " ".join(argv[:3]) if argv[1] == "pip" else " ".join(argv[:2])
        planner = commands.get(key)
        if planner is None:
            raise UnsupportedInstruction(
                f"{where}: RUN command `{' '.join(argv)}` has no emulation in "
                f"tests/rehearsal/image.py (supported in a {stage.kind} stage: "
                f"{', '.join(sorted(commands))}); add one or change the Dockerfile"
            )
        action = planner(argv, now, where, deviations)
        steps.append((f"{where} `{' '.join(argv[:3])}`", stage.key, action))


def _options(
    argv: list[str], where: str, flags: set[str], valued: set[str], command: str = ""
) -> tuple:
    """Parses ``--flag``, ``--opt value``, ``--opt=value``; unknown options fail."""
    seen: dict[str, str | bool] = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word.startswith("-") and word != "-":
            key, eq, value = word.partition("=")
            if key in flags and not eq:
                seen[key] = True
            elif key in valued:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise ImageBuildError(f"{where}: {key} needs a value")
                    value = argv[i]
                seen[key] = value
            else:
                raise UnsupportedInstruction(
                    f"{where}: option {word} of `{command}` is not reproduced"
                )
        else:
            positional.append(word)
        i += 1
    return seen, positional


def _uv_env(state: BuildState, run_env: Mapping[str, str]) -> dict[str, str]:
    env = dict(run_env)
    env.update(
        # The warm host cache, not the image's $HOME/.cache/uv (which a Docker
        # build would leave in the image layer under /tmp/.cache/uv).
        UV_CACHE_DIR=str(state.tools.uv_cache),
        UV_PYTHON=str(state.tools.python),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    # How the build host reaches the package index (a Docker build uses the host's
    # network too): its CA bundle and proxies, whatever the image's env says.
    for name in NETWORK_ENV:
        for key in (name, name.lower()):
            if key in os.environ:
                env[key] = os.environ[key]
    if env.get("UV_COMPILE_BYTECODE", "").lower() in ("1", "true", "yes") and not COMPILE_BYTECODE:
        env["UV_COMPILE_BYTECODE"] = "0"
        if COMPILE_BYTECODE_NOTE not in state.deviations:
            state.deviations.append(COMPILE_BYTECODE_NOTE)
    return env


def _plan_uv_sync(argv, stage, where, deviations) -> Action:
    run_env, workdir = stage.env, stage.workdir
    opts, positional = _options(
        argv[2:],
        where,
        {"--frozen", "--locked", "--no-dev", "--no-install-project", "--no-editable"},
        set(),
        command=" ".join(argv[:2]),
    )
    if positional:
        raise UnsupportedInstruction(f"{where}: uv sync arguments {positional}")
    venv = _in_image(run_env.get("UV_PROJECT_ENVIRONMENT", ".venv"), workdir)
    _require_content_path(venv, where, "the project environment")

    def sync(state: BuildState) -> None:
        _namespace_run(state, [str(state.tools.uv), *argv[1:]], _uv_env(state, run_env), workdir)

    return sync


def _plan_uv_export(argv, stage, where, deviations) -> Action:
    run_env, workdir = stage.env, stage.workdir
    opts, positional = _options(
        argv[2:],
        where,
        {"--frozen", "--locked", "--no-dev", "--no-emit-project", "--no-hashes"},
        {"-o", "--output-file"},
        command=" ".join(argv[:2]),
    )
    output = opts.get("-o") or opts.get("--output-file")
    if positional or not isinstance(output, str):
        raise UnsupportedInstruction(f"{where}: uv export needs -o FILE and no arguments")
    _require_content_path(_in_image(output, workdir), where, "uv export's output")

    def export(state: BuildState) -> None:
        _namespace_run(state, [str(state.tools.uv), *argv[1:]], _uv_env(state, run_env), workdir)

    return export


def _plan_uv_pip_install(argv, stage, where, deviations) -> Action:
    run_env, workdir = stage.env, stage.workdir
    opts, packages = _options(
        argv[3:],
        where,
        {"--system", "--no-cache"},
        {"-c", "--constraint", "--constraints"},
        command=" ".join(argv[:3]),
    )
    if not opts.get("--system"):
        raise UnsupportedInstruction(f"{where}: only `uv pip install --system` is reproduced")
    if not packages:
        raise ImageBuildError(f"{where}: uv pip install without packages")
    constraint = opts.get("-c") or opts.get("--constraint") or opts.get("--constraints")
    deviations.append(
        f"`uv pip install --system` installs into a venv at {SYSTEM_PREFIX} (standing in for "
        f"the base image's /usr/local, whose bin/ is on PATH), and {SYSTEM_PREFIX}/bin is "
        "put first on the image's PATH"
    )
    if opts.get("--no-cache"):
        deviations.append(
            "`uv pip install --no-cache` uses the host's warm uv cache (--no-cache only keeps "
            "the Docker layer small; the installed files are the same)"
        )
    python = f"{SYSTEM_PREFIX}/bin/python"
    command = ["pip", "install", "--python", python]
    if isinstance(constraint, str):
        command += ["--constraint", constraint]
    command += packages

    def install(state: BuildState) -> None:
        env = _uv_env(state, run_env)
        if not _host(state.rootfs, SYSTEM_PREFIX).exists():
            _namespace_run(
                state,
                [str(state.tools.uv), "venv", SYSTEM_PREFIX, "--python", str(state.tools.python)],
                env,
                workdir,
            )
        _namespace_run(state, [str(state.tools.uv), *command], env, workdir)
        state.system_env_added = True

    return install


def _plan_mkdir(argv, stage, where, deviations) -> Action:
    workdir = stage.workdir
    opts, paths = _options(
        argv[1:],
        where,
        {"-p", "--parents"},
        set(),
        command=" ".join(argv[:1]),
    )
    if not paths:
        raise ImageBuildError(f"{where}: mkdir without a path")
    targets = [_in_image(p, workdir) for p in paths]
    for target in targets:
        _require_content_path(target, where, "mkdir", stage.final)
    parents = bool(opts)

    def mkdir(state: BuildState) -> None:
        for target in targets:
            host = _host(state.rootfs, target)
            if host.exists():
                if not parents:
                    raise ImageBuildError(f"{where}: mkdir: {target}: File exists")
                continue
            if not parents and not host.parent.exists():
                raise ImageBuildError(f"{where}: mkdir: {target}: No such file or directory")
            _makedirs(host)

    return mkdir


def _plan_rm(argv, stage, where, deviations) -> Action:
    workdir = stage.workdir
    opts, paths = _options(
        argv[1:],
        where,
        {"-f", "-r", "-R", "-rf", "-fr", "--force", "--recursive"},
        set(),
        command=" ".join(argv[:1]),
    )
    force = any(k in opts for k in ("-f", "-rf", "-fr", "--force"))
    recursive = any(k in opts for k in ("-r", "-R", "-rf", "-fr", "--recursive"))
    targets = [_in_image(p, workdir) for p in paths]
    for target in targets:
        _require_content_path(target, where, "rm", stage.final)

    def rm(state: BuildState) -> None:
        for target in targets:
            host = _host(state.rootfs, target)
            if host.is_dir() and not host.is_symlink():
                if not recursive:
                    raise ImageBuildError(f"{where}: rm: cannot remove {target}: Is a directory")
                shutil.rmtree(host)
            elif os.path.lexists(host):
                host.unlink()
            elif not force:
                raise ImageBuildError(f"{where}: rm: cannot remove {target}: No such file")

    return rm


def _plan_useradd(argv, stage, where, deviations) -> Action:
    opts, names = _options(
        argv[1:],
        where,
        {"--user-group", "-U", "--no-create-home", "-M", "--system", "-r"},
        {"--uid", "-u", "--gid", "-g", "--home-dir", "-d", "--shell", "-s"},
        command=" ".join(argv[:1]),
    )
    if len(names) != 1:
        raise ImageBuildError(f"{where}: useradd takes one user name")
    uid = opts.get("--uid") or opts.get("-u")
    gid = opts.get("--gid") or opts.get("-g")
    if not gid and (opts.get("--user-group") or opts.get("-U")):
        gid = uid
    if not (opts.get("--no-create-home") or opts.get("-M")):
        raise UnsupportedInstruction(f"{where}: useradd creating a home folder is not reproduced")
    record = {
        "name": names[0],
        "uid": int(uid) if isinstance(uid, str) else None,
        "gid": int(gid) if isinstance(gid, str) else None,
        "home": opts.get("--home-dir") or opts.get("-d") or None,
    }
    note = (
        f"useradd {names[0]} is recorded (users), not written to an /etc/passwd: the runtime "
        "runs the image's numeric uid:gid"
    )
    if note not in deviations:
        deviations.append(note)

    def useradd(state: BuildState) -> None:
        state.users.append(record)

    return useradd


def _plan_npm_ci(argv, stage, where, deviations) -> Action:
    _, positional = _options(
        argv[2:],
        where,
        {"--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline"},
        {"--omit", "--include"},
        command="npm ci",
    )
    if positional:
        raise UnsupportedInstruction(f"{where}: npm ci arguments {positional}")
    return _host_command(argv, stage, where)


def _plan_npm_run(argv, stage, where, deviations) -> Action:
    if len(argv) != 3 or argv[2].startswith("-"):
        raise UnsupportedInstruction(f"{where}: only `npm run <script>` is reproduced")
    return _host_command(argv, stage, where)


def _host_command(argv: list[str], stage: Stage, where: str) -> Action:
    """A build-stage command run by the host's tool in the stage's scratch folder (its
    output holds no absolute paths, so no namespace is needed)."""
    run_env, workdir = dict(stage.env), stage.workdir

    def run(state: BuildState) -> None:
        tool = shutil.which(argv[0])
        if tool is None:
            raise ImageBuildError(f"{where}: {argv[0]} is not installed on this machine")
        env = dict(run_env)
        env["PATH"] = f"{Path(tool).parent}:{run_env.get('PATH', BASE_PATH)}"
        env["HOME"] = str(Path.home())  # root's, as in the image; its npm cache is warm
        for name in NETWORK_ENV:
            for key in (name, name.lower()):
                if key in os.environ:
                    env[key] = os.environ[key]
        proc = subprocess.run(
            [tool, *argv[1:]],
            cwd=_host(state.rootfs, workdir),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ImageBuildError(
                f"{where}: `{' '.join(argv)}` failed (exit {proc.returncode}):\n"
                f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
            )

    return run


RUN_COMMANDS: dict[str, dict[str, Callable[..., Action]]] = {
    "python": {
        "uv sync": _plan_uv_sync,
        "uv export": _plan_uv_export,
        "uv pip install": _plan_uv_pip_install,
        "mkdir": _plan_mkdir,
        "rm": _plan_rm,
        "useradd": _plan_useradd,
    },
    "node": {
        "npm ci": _plan_npm_ci,
        "npm run": _plan_npm_run,
        "mkdir": _plan_mkdir,
        "rm": _plan_rm,
    },
}


def _namespace_run(state: BuildState, argv: list[str], env: Mapping[str, str], cwd: str) -> None:
    """Runs ``argv`` where rootfs/opt is /opt and rootfs/tmp is /tmp (a private mount
    namespace: nothing changes for the rest of the machine)."""
    proc = namespace_process(state.rootfs, argv, env, cwd, capture=True)
    if proc.returncode != 0:
        raise ImageBuildError(
            f"`{' '.join(argv)}` failed in the image namespace (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )


def namespace_process(
    rootfs: Path,
    argv: list[str],
    env: Mapping[str, str],
    cwd: str,
    *,
    tmp: Path | None = None,
    read_only: bool = False,
    capture: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """``argv`` in a private mount namespace with rootfs/opt at /opt and ``tmp`` (default
    rootfs/tmp) at /tmp; /opt read-only if asked. Needs root (``unshare --mount``)."""
    if os.geteuid() != 0:
        raise ImageBuildError("assembling or probing an image needs root (unshare --mount)")
    tmp = tmp or rootfs / SCRATCH_ROOT.lstrip("/")
    _makedirs(tmp)
    _makedirs(rootfs / CONTENT_ROOT.lstrip("/"))
    script = (
        'set -e; mount --bind "$1" /opt; '
        'if [ "$4" = ro ]; then mount -o remount,bind,ro /opt; fi; '
        'mount --bind "$2" /tmp; cd "$3"; shift 4; exec "$@"'
    )
    command = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script]
    command += ["sh", str(rootfs / "opt"), str(tmp), cwd, "ro" if read_only else "rw", *argv]
    # `unshare` and `mount` come from the host, whatever PATH the image sets.
    full_env = dict(env)
    full_env["PATH"] = f"{env.get('PATH', BASE_PATH)}:/usr/sbin:/usr/bin:/sbin:/bin"
    return subprocess.run(
        command, env=full_env, capture_output=capture, text=True, check=False, timeout=timeout
    )


# --------------------------------------------------------------------------- digest, cache


def source_digest(plan: Plan, context: Path, tools: HostTools) -> str:
    h = hashlib.sha256()
    h.update(f"builder {BUILDER_VERSION}; compile {COMPILE_BYTECODE}\n".encode())
    h.update(tools.fingerprint().encode() + b"\n")
    dockerfile = Path(plan.dockerfile)
    dockerfile = dockerfile if dockerfile.is_absolute() else context / dockerfile
    h.update(b"dockerfile\0" + dockerfile.read_bytes() + b"\0")
    for name in ("uv.lock", "pyproject.toml"):
        path = context / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    for target, host in sorted(plan.copied):
        if host.is_symlink():
            content = b"symlink:" + os.readlink(host).encode()
        else:
            content = host.read_bytes()
        mode = "x" if os.access(host, os.X_OK) and not host.is_symlink() else "-"
        h.update(f"{target}\0{mode}\0".encode())
        h.update(hashlib.sha256(content).digest())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


LAST_USED = ".last-used"


def _last_used(image_dir: Path) -> float:
    marker = image_dir / LAST_USED
    return (marker if marker.exists() else image_dir / "image.json").stat().st_mtime


def prune_images(
    cache_dir: Path, name: str, keep: int = 2, idle_seconds: float = 2 * 3600
) -> list[Path]:
    """Deletes the image dirs of ``name`` that are neither among the ``keep`` most
    recently used nor used in the last ``idle_seconds`` (a rehearsal still running
    from one keeps it); returns what went."""
    dirs = [
        d
        for d in cache_dir.glob(f"{name}-*")
        if d.is_dir()
        and (d / "image.json").is_file()
        and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]+", d.name)
    ]
    dirs.sort(key=_last_used, reverse=True)
    now = time.time()
    gone = [d for d in dirs[keep:] if now - _last_used(d) > idle_seconds]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone


# --------------------------------------------------------------------------- the public API


@dataclass(frozen=True)
class ImageDir:
    path: Path
    config: dict
    ref: str | None  # the image reference the rendered charts give this image

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def env(self) -> dict[str, str]:
        return dict(self.config["env"])

    def host_path(self, in_image: str) -> Path:
        """Where an in-image absolute path lives in this directory."""
        return _host(self.rootfs, in_image)

    def which(self, program: str) -> str | None:
        """The in-image path of ``program`` on the image's PATH (content under /opt only)."""
        for folder in self.env.get("PATH", "").split(":"):
            candidate = f"{folder.rstrip('/')}/{program}"
            if _under(candidate, CONTENT_ROOT) and os.access(self.host_path(candidate), os.X_OK):
                return candidate
        return None


def load_image(path: Path, ref: str | None = None) -> ImageDir:
    config = json.loads((path / "image.json").read_text())
    return ImageDir(path, config, ref if ref is not None else config.get("ref"))


def assemble_image(
    dockerfile: Path,
    context: Path = REPO_ROOT,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    *,
    ref: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ImageDir:
    """The image dir of ``dockerfile`` (built in ``context``), from ``cache_dir`` when its
    sources are unchanged, else built now (atomically: a temp dir, then a rename).

    ``ref`` defaults to the tag the documented install steps give this Dockerfile,
    with the rehearsal's default placeholders (``charts.image_reference``)."""
    plan = plan_image(Path(dockerfile), Path(context))
    context = Path(context).resolve()
    if ref is None:
        from tests.rehearsal.charts import image_reference

        ref = image_reference(plan.dockerfile)
    tools = HostTools.find(plan.python_minor, node=any(s.kind == "node" for s in plan.stages))
    digest = source_digest(plan, context, tools)
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{plan.name}-{digest}"
    if (target / "image.json").is_file():
        (target / LAST_USED).touch()
        return load_image(target, ref)
    with _lock(cache_dir / f".{plan.name}.lock"):
        if (target / "image.json").is_file():
            return load_image(target, ref)
        scratch = Path(tempfile.mkdtemp(prefix=f".build-{plan.name}-", dir=cache_dir))
        try:
            scratch.chmod(0o755)
            config = _build(plan, tools, scratch / "rootfs", digest, ref, log)
            (scratch / "image.json").write_text(json.dumps(config, indent=2) + "\n")
            (scratch / LAST_USED).touch()
            os.rename(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        prune_images(cache_dir, plan.name)
    return load_image(target, ref)


def _build(plan, tools, rootfs, digest, ref, log) -> dict:
    started = time.monotonic()
    _makedirs(rootfs / CONTENT_ROOT.lstrip("/"))
    state = BuildState(rootfs=rootfs, tools=tools, deviations=list(plan.deviations))
    stages_dir = rootfs.parent / "stages"
    for stage in plan.stages:
        state.roots[stage.key] = rootfs if stage.final else stages_dir / stage.key
        _makedirs(state.roots[stage.key])
        if stage.kind == "node" and tools.node_version != stage.version:
            state.deviations.append(
                f"build stage {stage.key!r} runs on the host's node {tools.node_version}, "
                f"not {stage.version}"
            )
    for where, key, action in plan.steps:
        t0 = time.monotonic()
        state.rootfs = state.roots[key]
        action(state)
        if log:
            log(f"{where}: {time.monotonic() - t0:.1f} s")
    state.rootfs = rootfs
    shutil.rmtree(stages_dir, ignore_errors=True)
    scratch = rootfs / SCRATCH_ROOT.lstrip("/")
    if scratch.is_dir():
        left = sorted(p.name for p in scratch.iterdir())
        if left:
            state.deviations.append(
                f"what the build left in {SCRATCH_ROOT} ({', '.join(left)}) is not kept: every "
                f"pod mounts an emptyDir at {SCRATCH_ROOT}, so no container could see it"
            )
        shutil.rmtree(scratch)
    env = dict(plan.env)
    if state.system_env_added:
        env["PATH"] = f"{SYSTEM_PREFIX}/bin:{env['PATH']}"
    state.deviations.insert(
        0,
        f"base image {plan.base}: its Python is the host's {tools.python_version} "
        f"({tools.python_prefix}, listed in host_paths: the runtime must make it readable "
        "to the image's user at that same path), not the image's own "
        f"/usr/local {plan.base_env['PYTHON_VERSION']}; the base image's OS files are the host's",
    )
    return {
        "name": plan.name,
        "dockerfile": plan.dockerfile,
        "base": plan.base,
        "ref": ref,
        "env": env,
        "dockerfile_env": plan.env,
        "base_env": plan.base_env,
        "workdir": plan.workdir,
        "user": plan.user,
        "users": state.users,
        "entrypoint": plan.entrypoint,
        "cmd": plan.cmd,
        "exposed_ports": plan.exposed_ports,
        "source_digest": digest,
        "host_paths": [str(tools.python_prefix)],
        "tools": {k: {**v, "host": str(tools.uv)} for k, v in plan.tools_used.items()},
        "deviations": state.deviations,
        "builder_version": BUILDER_VERSION,
        "build_seconds": round(time.monotonic() - started, 1),
    }


# --------------------------------------------------------------------------- checks


_IMPORT_PROBE = r"""
import ast, importlib, importlib.util, json, pathlib, sys, traceback
app = pathlib.Path(sys.argv[1]); module = sys.argv[2]
local = {p.name for p in app.iterdir() if p.is_dir()} | {p.stem for p in app.glob("*.py")}
wanted = {}
def guarded(node, parents):
    for p in parents:
        if isinstance(p, ast.Try):
            for h in p.handlers:
                names = ast.unparse(h.type) if h.type else ""
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        if isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test):
            return True
    return False
def walk(node, parents):
    for child in ast.iter_child_nodes(node):
        names = []
        if isinstance(child, ast.Import):
            names = [a.name.split(".")[0] for a in child.names]
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            names = [child.module.split(".")[0]]
        if names and not guarded(child, parents + [node]):
            for n in names:
                wanted.setdefault(n, set()).add(str(path.relative_to(app)))
        walk(child, parents + [node])
for path in sorted(app.rglob("*.py")):
    walk(ast.parse(path.read_bytes(), str(path)), [])
problems = []
for name in sorted(wanted):
    if name in local or name in sys.stdlib_module_names:
        continue
    if importlib.util.find_spec(name) is None:
        problems.append(f"{name} is imported by {', '.join(sorted(wanted[name]))} "
                        "but is not installed in the image")
if module:
    try:
        importlib.import_module(module)
    except BaseException:
        line = traceback.format_exc().strip().splitlines()[-1]
        problems.append(f"import {module} failed: {line}")
print(json.dumps(problems))
"""


def image_module(image: ImageDir) -> str | None:
    """The module the image's command serves (``--module-name=...``), if any."""
    for word in (image.config.get("entrypoint") or []) + (image.config.get("cmd") or []):
        if word.startswith("--module-name="):
            return word.split("=", 1)[1]
    return None


def image_runtime_imports(
    image: ImageDir,
    module: str | None = "",
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> list[str]:
    """What the image cannot import at run time (empty: nothing), found by the image's
    own interpreter with /opt read-only, a fresh /tmp, the image's env (plus ``env``)
    and its workdir as the current folder; the checkout is nowhere on sys.path.

    - every top-level module that code under the workdir imports (outside
      ``try/except ImportError`` and ``TYPE_CHECKING``) must be installed;
    - ``module`` (default: the one the image's command serves; ``None``: skip)
      must import.
    """
    if module == "":
        module = image_module(image)
    python = image.which("python")
    if python is None:
        raise ImageBuildError(f"{image.path}: no python under {CONTENT_ROOT} on the image's PATH")
    run_env = image.env
    run_env.update(env or {})
    workdir = image.config["workdir"]
    with tempfile.TemporaryDirectory(prefix="image-tmp-") as tmp:
        os.chmod(tmp, 0o1777)
        proc = namespace_process(
            image.rootfs,
            [python, "-c", _IMPORT_PROBE, workdir, module or ""],
            run_env,
            workdir,
            tmp=Path(tmp),
            read_only=True,
            timeout=timeout,
        )
    if proc.returncode != 0:
        raise ImageBuildError(f"the import probe failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dockerfile", type=Path)
    parser.add_argument("--context", type=Path, default=REPO_ROOT)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    started = time.monotonic()
    image = assemble_image(
        args.dockerfile,
        args.context,
        args.cache_dir,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    print(image.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
