"""The container runtime of the Kubernetes emulator: each container is a real Linux process.

There is no container engine on the test machines, so a container is made from what a root
process can do by itself:

* **Filesystem.**  A small init program (``_INIT_SRC``, run by the host's ``/usr/bin/python3``
  as root, before the workload is exec'd) enters a private mount namespace, mounts a scratch
  tmpfs on an empty per-container directory and builds the container's root there: an overlay
  whose lower layer is the host's ``/`` (the "base image") and whose upper layer lives on the
  scratch tmpfs, then ``pivot_root``\\ s into it.  Every top-level entry of
  ``<image_dir>/rootfs`` is mounted on the same path (an overlay too, so a container writing to
  its image never changes the image directory), ``/dev``, ``/proc`` and ``/sys`` are bound from
  the host, ``/tmp`` and ``/dev/shm`` are fresh tmpfs (with ``image_dir=None``, ``/tmp`` is
  the host's, copy-on-write like the rest of the root), then each :class:`Mount`
  is bound on its ``container_path``.  Mount targets that are missing
  (``/var/run/secrets/...``, a config file inside the image) are created in the overlays' upper
  layers, i.e. on the private tmpfs: the host's directories and the image directory are never
  written (except inside another Mount's directory, as a kubelet would).  The writable root
  (without ``read_only_root``) is that upper layer too, so writes to ``/etc`` or ``/opt``
  never reach the host.  Only after all that are the
  read-only mounts remounted read-only (with ``read_only_root``: ``/`` itself, the image
  layers, ``/tmp`` unless a Mount covers it).  Nothing of this is visible outside the
  namespace, which dies with the container's last process.
* **User.**  After mounting, the init clears the supplementary groups and calls
  ``setresgid``/``setresuid``.  Host paths a non-root user must reach but cannot (the base
  Python of the image's venv under ``/root/.pyenv``, ``/root`` being mode 700) are made
  reachable in the namespace at the same absolute path: a 0755 tmpfs is mounted over the first
  ancestor the user cannot search, the path is recreated in it and the host directory bound
  there read-only.  The host's permissions are not changed.
* **Memory.**  A cgroup (v1 memory controller, v2 only where v1 is absent) per container,
  nested under the cgroup of the process that starts it (``<own cgroup>/k8s-emulator/<name>``;
  that is ``/sys/fs/cgroup/memory/k8s-emulator/<name>`` for a process in the root cgroup), so
  the limits of whoever runs the tests still apply.  The init joins it before doing anything.
  The cgroup's ``oom_kill`` counter tells an OOM kill (``OOMKilled``, 137) from any other
  ``SIGKILL``.  It also lists every process of the container, which is how :meth:`kill` and
  the end of the main process (like the end of PID 1 in a pod) kill double-forked children.
* **Logs.**  stdout and stderr share one pipe; a thread per container appends each line to
  ``log_path`` prefixed with an RFC 3339 UTC timestamp with nanoseconds, as
  ``kubectl logs --timestamps`` prints them.

Requires root (mount namespaces, cgroups); :func:`runtime_unavailable_reason` says why not.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import marshal
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "ContainerProcess",
    "ContainerSpec",
    "ExitStatus",
    "Mount",
    "rfc3339_nano",
    "runtime_unavailable_reason",
    "start_container",
]


@dataclass
class Mount:
    container_path: str  # absolute path inside the pod (file or directory)
    host_path: Path  # existing host file or dir to bind there
    read_only: bool = True


@dataclass
class ContainerSpec:
    name: str  # unique, e.g. f"{namespace}_{pod_name}"
    argv: list[str]  # final command+args
    env: dict[str, str]  # the COMPLETE environment (nothing inherited from the host)
    workdir: str
    image_dir: Path | None  # assembled image dir or None = run on the host fs as is
    run_as_user: int | None
    run_as_group: int | None
    read_only_root: bool
    mounts: list[Mount]
    memory_limit_bytes: int | None
    log_path: Path  # "<RFC3339Nano UTC timestamp> <line>" per stdout/stderr line
    # Addition: host paths (files or dirs) that must be reachable at the same path for a
    # non-root run_as_user even under a directory it cannot search.  The base interpreter of
    # a venv (the image's, or argv[0]'s) and image.json's "host_paths" are found without it.
    host_paths: list[Path] = field(default_factory=list)


@dataclass
class ExitStatus:
    exit_code: int
    reason: str  # "Completed" (exit 0), "Error", or "OOMKilled"
    started_at: datetime
    finished_at: datetime


# --------------------------------------------------------------------------------------------
# The init program.  Runs as root with the host's own Python (-I -S: no site, no environment),
# its stdout/stderr being the container's log pipe; argv[1] is the config built by
# start_container, marshal'ed and hex-encoded (importing json would double the init's start
# time).  It ends by exec'ing the workload, or exits 126/127/128 on failure.
# --------------------------------------------------------------------------------------------
_INIT_SRC = r"""
import ctypes, marshal, os, sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH, CLONE_NEWNS = 2, 0x20000
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
OLD = "/.k8s-emulator-oldroot"

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.syscall.restype = ctypes.c_long


def enc(s):
    return None if s is None else os.fsencode(s)


def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def mount(src, tgt, fstype=None, flags=0, data=None):
    rc = libc.mount(enc(src), enc(tgt), enc(fstype), flags, enc(data))
    check(rc, "mount(%r, %r, %r, %#x, %r)" % (src, tgt, fstype, flags, data))


def remount_ro(path):
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def esc(path):  # overlayfs option value
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def can_search(path, uid, gid):
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid == gid:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def setup(cfg):
    if cfg["cgroup_procs"]:
        with open(cfg["cgroup_procs"], "w") as f:
            f.write(str(os.getpid()))
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)

    # The container's root: host / as the lower layer, its upper layer on a private tmpfs.
    scratch = cfg["scratch"]
    mount("k8s-emulator", scratch, "tmpfs", 0, "mode=0755")
    layers = [0]

    def overlay(lower, target):
        layers[0] += 1
        base = "%s/layer%d" % (scratch, layers[0])
        os.makedirs(base + "/upper")
        os.makedirs(base + "/work")
        data = "lowerdir=%s,upperdir=%s,workdir=%s" % (
            esc(lower), esc(base + "/upper"), esc(base + "/work"))
        mount("overlay", target, "overlay", 0, data)

    os.makedirs(scratch + "/root")
    overlay("/", scratch + "/root")
    os.chdir(scratch + "/root")
    os.makedirs("." + OLD, exist_ok=True)
    nr = SYS_PIVOT_ROOT[os.uname().machine]
    check(libc.syscall(nr, b".", enc("." + OLD)), "pivot_root")
    os.chdir("/")
    # From here on, paths resolve inside the container (its own /var/run -> /run ...);
    # the host's tree is reachable under OLD until it is detached.
    scratch = OLD + scratch

    for d in ("dev", "proc", "sys"):
        os.makedirs("/" + d, exist_ok=True)
        mount(OLD + "/" + d, "/" + d, None, MS_BIND | MS_REC)
    remount_ro("/sys")
    mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          "mode=1777,size=67108864")
    root_mounts = ["/"]  # made read-only with read_only_root
    ro_mounts = []  # made read-only in any case

    # The image: each top-level entry of rootfs on the same path.
    if cfg["rootfs"]:
        rootfs = OLD + cfg["rootfs"]
        for entry in sorted(os.listdir(rootfs)):
            src, tgt = rootfs + "/" + entry, "/" + entry
            if os.path.islink(src):
                if os.path.isdir(tgt) and not os.path.islink(tgt):
                    raise OSError("image symlink %s would replace the directory %s" % (src, tgt))
                if os.path.lexists(tgt):
                    os.unlink(tgt)
                os.symlink(os.readlink(src), tgt)
                continue
            if os.path.isdir(src):
                os.makedirs(tgt, exist_ok=True)
                overlay(src, tgt)
            else:
                touch(tgt)
                mount(src, tgt, None, MS_BIND)
            root_mounts.append(tgt)

    mount_targets = {m["target"] for m in cfg["mounts"]}
    # A host-filesystem container (no image) keeps the host's /tmp in its copy-on-write
    # root: the checkout and its venv may live there (a clone under /tmp), and writes
    # still stay private to the container.
    if "/tmp" not in mount_targets and cfg["rootfs"] is not None:
        mount("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        root_mounts.append("/tmp")

    # Host paths a non-root user must reach at the same path (the venv's base Python).
    uid = cfg["uid"]
    gid = cfg["gid"] if cfg["gid"] is not None else 0
    if uid not in (None, 0):
        covers = {}
        for path in cfg["host_paths"]:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                ancestor = "/" + "/".join(parts[:i])
                if not os.path.isdir(ancestor):
                    break
                if not can_search(ancestor, uid, gid):
                    covers.setdefault(ancestor, []).append(path)
                    break
        for cover, paths in sorted(covers.items()):
            mount("k8s-emulator-mask", cover, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
            root_mounts.append(cover)
            for path in paths:
                if os.path.isdir(OLD + path):
                    os.makedirs(path, exist_ok=True)
                else:
                    touch(path)
                mount(OLD + path, path, None, MS_BIND | MS_REC)
                ro_mounts.append(path)

    # The pod's volumes, parents before children.
    for m in sorted(cfg["mounts"], key=lambda m: m["target"].rstrip("/").count("/")):
        src, tgt = OLD + m["source"], m["target"]
        if m["is_dir"]:
            os.makedirs(tgt, exist_ok=True)
        else:
            touch(tgt)
        mount(src, tgt, None, MS_BIND | MS_REC)
        if m["read_only"]:
            ro_mounts.append(tgt)

    os.makedirs(cfg["workdir"], exist_ok=True)
    check(libc.umount2(enc(OLD), MNT_DETACH), "umount " + OLD)
    os.rmdir(OLD)
    for path in (root_mounts if cfg["read_only_root"] else []) + ro_mounts:
        remount_ro(path)

    if uid is not None or cfg["gid"] is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None:
        os.setresuid(uid, uid, uid)


def main():
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    try:
        setup(cfg)
        os.chdir(cfg["workdir"])
    except Exception as e:
        sys.stderr.write("k8s-emulator runtime: container setup failed: %s\n" % (e,))
        sys.stderr.flush()
        os._exit(128)
    argv = cfg["argv"]
    try:
        os.execvpe(argv[0], argv, cfg["env"])
    except OSError as e:
        sys.stderr.write("k8s-emulator runtime: exec %r: %s\n" % (argv[0], e))
        sys.stderr.flush()
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)


main()
"""

_INIT_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
_CGROUP_GROUP = "k8s-emulator"
_LIVE: weakref.WeakSet[ContainerProcess] = weakref.WeakSet()


def rfc3339_nano(ns: int | None = None) -> str:
    """``2024-05-01T12:00:00.123456789Z`` for ``ns`` (default: now) nanoseconds since the epoch."""
    secs, frac = divmod(time.time_ns() if ns is None else ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def runtime_unavailable_reason() -> str | None:
    """Why containers cannot be started here, or None when they can."""
    if sys.platform != "linux":
        return "not Linux"
    if os.geteuid() != 0:
        return "needs root (mount namespaces, cgroups)"
    if not os.path.isdir("/proc/self/ns") or not os.path.exists("/proc/self/ns/mnt"):
        return "no mount namespaces"
    return None


# --------------------------------------------------------------------------------------------
# cgroups
# --------------------------------------------------------------------------------------------
def _own_cgroup(controller: str | None) -> str:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (None: the v2 one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (
            controller is not None and controller in controllers.split(",")
        ):
            return path
    return "/"


class _Cgroup:
    """One container's cgroup: memory limit, OOM counter and the list of its processes."""

    def __init__(self, path: Path, v2: bool):
        self.path = path
        self.v2 = v2

    @classmethod
    def create(cls, name: str, limit: int | None) -> _Cgroup | None:
        v1 = Path("/sys/fs/cgroup/memory")
        if (v1 / "cgroup.procs").exists():
            parent = v1 / _own_cgroup("memory").lstrip("/") / _CGROUP_GROUP
            v2 = False
        else:
            for base in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                controllers = base / "cgroup.controllers"
                if controllers.exists() and "memory" in controllers.read_text().split():
                    break
            else:
                return None
            own = base / _own_cgroup(None).lstrip("/")
            parent, v2 = own / _CGROUP_GROUP, True
        if not os.access(parent.parent, os.W_OK):
            return None
        path = None
        for attempt in range(20):
            candidate = parent / (name if attempt == 0 else f"{name}-{attempt}")
            try:
                parent.mkdir(exist_ok=True)
                if v2:
                    for p in (parent.parent, parent):
                        _try_write(p / "cgroup.subtree_control", "+memory")
                candidate.mkdir()
            except FileExistsError:
                try:  # a leftover of an earlier container of that name
                    candidate.rmdir()
                    candidate.mkdir()
                except OSError:
                    continue
            except FileNotFoundError:  # parent removed by a container ending right now
                continue
            path = candidate
            break
        if path is None:
            raise RuntimeError(f"could not create a cgroup for {name} under {parent}")
        cgroup = cls(path, v2)
        if limit is not None:
            if v2:
                (path / "memory.max").write_text(str(limit))
                _try_write(path / "memory.swap.max", "0")
            else:
                (path / "memory.limit_in_bytes").write_text(str(limit))
                _try_write(path / "memory.memsw.limit_in_bytes", str(limit))
        return cgroup

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs_file.read_text().split()]
        except FileNotFoundError:
            return []

    def oom_kills(self) -> int:
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            text = (self.path / name).read_text()
        except FileNotFoundError:
            return 0
        match = re.search(r"^oom_kill (\d+)$", text, re.M)
        return int(match.group(1)) if match else 0

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup until it is empty (forks racing included)."""
        if self.v2 and (self.path / "cgroup.kill").exists():
            _try_write(self.path / "cgroup.kill", "1")
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        for _ in range(400):
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                self.kill_all()
                time.sleep(0.005)
        with contextlib.suppress(OSError):  # the shared parent, if this was its last container
            self.path.parent.rmdir()


def _try_write(path: Path, value: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)


# --------------------------------------------------------------------------------------------
# Container processes
# --------------------------------------------------------------------------------------------
class ContainerProcess:
    """A started container; its main process is ``pid`` (the init exec's the workload)."""

    def __init__(
        self,
        spec: ContainerSpec,
        popen: subprocess.Popen[bytes],
        cgroup: _Cgroup | None,
        scratch: Path,
        started_at: datetime,
    ):
        self.pid = popen.pid
        self.name = spec.name
        self.log_path = spec.log_path
        self.cgroup_path: Path | None = cgroup.path if cgroup else None
        self.scratch_dir = scratch
        self.started_at = started_at
        self._popen = popen
        self._cgroup = cgroup
        self._lock = threading.Lock()  # held while the main pid is reaped / signalled
        self._reaped = False
        self._status: ExitStatus | None = None
        self._done = threading.Event()
        self._stop_reader = threading.Event()
        self._reader = threading.Thread(
            target=self._read_logs, name=f"k8s-log-{spec.name}", daemon=True
        )
        self._waiter = threading.Thread(
            target=self._wait, name=f"k8s-wait-{spec.name}", daemon=True
        )
        self._reader.start()
        self._waiter.start()
        _LIVE.add(self)

    def poll(self) -> ExitStatus | None:
        """The exit status once the container has ended and been cleaned up, else None."""
        return self._status if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        """Addition: block until the container ends (or ``timeout``); then ``poll()``."""
        self._done.wait(timeout)
        return self.poll()

    def kill(self) -> None:
        """SIGKILL every process of the container, reap it, clean up.  Idempotent."""
        if self._done.is_set():
            return
        self._signal_all(signal.SIGKILL)
        if not self._done.wait(30):
            raise RuntimeError(f"container {self.name} (pid {self.pid}) did not end")

    def terminate(self) -> None:
        """SIGTERM the container's process group (a graceful stop); does not wait."""
        if not self._done.is_set():
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        with self._lock:
            if self._cgroup is not None and sig == signal.SIGKILL:
                self._cgroup.kill_all()
            if not self._reaped:  # the pgid is pinned until the main process is reaped
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, sig)

    def _wait(self) -> None:
        try:
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
            finished_at = datetime.now(UTC)
            # Like the end of a pod's PID 1: the rest of the container goes too.
            self._signal_all(signal.SIGKILL)
            with self._lock:
                returncode = self._popen.wait()
                self._reaped = True
            oom_kills = 0
            if self._cgroup is not None:
                oom_kills = self._cgroup.oom_kills()
                self._cgroup.remove()
            self._reader.join(timeout=5)
            if self._reader.is_alive():  # a writer escaped the cgroup: stop reading anyway
                self._stop_reader.set()
                self._reader.join(timeout=2)
            with contextlib.suppress(OSError):
                self.scratch_dir.rmdir()
            exit_code = 128 - returncode if returncode < 0 else returncode
            if oom_kills and exit_code != 0:
                reason = "OOMKilled"
            elif exit_code == 0:
                reason = "Completed"
            else:
                reason = "Error"
            self._status = ExitStatus(exit_code, reason, self.started_at, finished_at)
        finally:
            _LIVE.discard(self)
            self._done.set()

    def _read_logs(self) -> None:
        assert self._popen.stdout is not None
        fd = self._popen.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        partial = b""
        with open(self.log_path, "ab", buffering=0) as log:
            while True:
                if not poller.poll(200):
                    if self._stop_reader.is_set():
                        break
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                stamp = rfc3339_nano().encode() + b" "
                *lines, partial = (partial + chunk).split(b"\n")
                if len(partial) >= 1 << 14:  # an overlong line is split, as the kubelet does
                    lines.append(partial)
                    partial = b""
                if lines:
                    log.write(b"".join(stamp + line + b"\n" for line in lines))
            if partial:
                log.write(rfc3339_nano().encode() + b" " + partial + b"\n")
        self._popen.stdout.close()

    def __repr__(self) -> str:
        return f"<ContainerProcess {self.name} pid={self.pid} status={self.poll()}>"


def _venv_home_prefix(pyvenv_cfg: Path) -> str | None:
    """The base interpreter's prefix of a venv (``home`` minus a trailing ``/bin``)."""
    try:
        text = pyvenv_cfg.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home":
            home = Path(value.strip())
            return str(home.parent if home.name == "bin" else home)
    return None


def _host_paths(spec: ContainerSpec) -> list[str]:
    """Host paths the container's user must reach at the same path."""
    paths = [str(p) for p in spec.host_paths]
    venv_cfgs: list[Path] = []
    rootfs = spec.image_dir / "rootfs" if spec.image_dir is not None else None
    if spec.image_dir is not None and rootfs is not None:
        try:
            image = json.loads((spec.image_dir / "image.json").read_text())
        except (OSError, ValueError):
            image = {}
        paths += [str(p) for p in image.get("host_paths", [])]
        venv_cfgs += [rootfs / "opt" / "venv" / "pyvenv.cfg"]
        venv_cfgs += rootfs.glob("*/*/pyvenv.cfg")
    # argv[0]'s venv, argv[0] looked up as execvpe will: in the image first, then on the host.
    argv0 = spec.argv[0] if spec.argv else ""
    search = [""] if "/" in argv0 else spec.env.get("PATH", os.defpath).split(os.pathsep)
    for directory in search:
        exe = Path("/", spec.workdir or "/", directory, argv0)  # the last absolute part wins
        candidates = [rootfs / exe.relative_to("/")] if rootfs is not None else []
        candidates.append(exe)
        found = [c for c in candidates if c.is_file()]
        if found:
            venv_cfg = found[0].parent.parent / "pyvenv.cfg"
            if venv_cfg.exists():
                venv_cfgs.append(venv_cfg)
            break
    for cfg in venv_cfgs:
        prefix = _venv_home_prefix(cfg)
        if prefix:
            paths.append(prefix)
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def _can_write(path: Path, uid: int, gid: int) -> bool:
    st = path.stat()
    if st.st_uid == uid:
        return bool(st.st_mode & 0o200)
    if st.st_gid == gid:
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


def start_container(spec: ContainerSpec) -> ContainerProcess:
    """Start ``spec`` as a process in its own mount namespace and cgroup; returns at once."""
    reason = runtime_unavailable_reason()
    if reason:
        raise RuntimeError(f"k8s emulator runtime unavailable: {reason}")
    if not spec.argv:
        raise ValueError(f"container {spec.name}: empty argv")
    mounts = []
    for m in spec.mounts:
        if not m.container_path.startswith("/"):
            raise ValueError(f"container {spec.name}: mount path {m.container_path!r} not absolute")
        source = Path(os.path.realpath(m.host_path))
        if not source.exists():
            raise FileNotFoundError(f"container {spec.name}: mount source {m.host_path} missing")
        is_dir = source.is_dir()
        uid = spec.run_as_user
        if (
            is_dir
            and not m.read_only
            and uid not in (None, 0)
            and not _can_write(source, uid, spec.run_as_group or 0)
            and not any(source.iterdir())
        ):
            source.chmod(0o777)  # a fresh emptyDir, as the kubelet makes it
        mounts.append(
            {
                "target": os.path.normpath(m.container_path),
                "source": str(source),
                "is_dir": is_dir,
                "read_only": m.read_only,
            }
        )
    rootfs = None
    if spec.image_dir is not None:
        rootfs = os.path.realpath(spec.image_dir / "rootfs")
        if not os.path.isdir(rootfs):
            raise FileNotFoundError(f"container {spec.name}: no {rootfs}")

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name) or "container"
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"k8s-emu-{name[:48]}-"))
    cgroup = None
    try:
        cgroup = _Cgroup.create(name, spec.memory_limit_bytes)
        if cgroup is None and spec.memory_limit_bytes is not None:
            raise RuntimeError("no writable memory cgroup for the memory limit")
        config = {
            "cgroup_procs": str(cgroup.procs_file) if cgroup else None,
            "scratch": str(scratch),
            "rootfs": rootfs,
            "read_only_root": spec.read_only_root,
            "mounts": mounts,
            "host_paths": _host_paths(spec),
            "uid": spec.run_as_user,
            "gid": spec.run_as_group,
            "workdir": spec.workdir or "/",
            "argv": list(spec.argv),
            "env": dict(spec.env),
        }
        popen = subprocess.Popen(
            [_INIT_PYTHON, "-I", "-S", "-c", _INIT_SRC, marshal.dumps(config).hex()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={},
            cwd="/",
            start_new_session=True,
        )
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        scratch.rmdir()
        raise
    return ContainerProcess(spec, popen, cgroup, scratch, datetime.now(UTC))


@atexit.register
def _kill_leftovers() -> None:
    for container in list(_LIVE):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            container.kill()
