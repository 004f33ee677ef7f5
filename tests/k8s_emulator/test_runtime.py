"""The emulator's container runtime, with real processes, mounts and cgroups (needs root)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.k8s_emulator.runtime import (
    ContainerProcess,
    ContainerSpec,
    ExitStatus,
    Mount,
    runtime_unavailable_reason,
    start_container,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        runtime_unavailable_reason() is not None, reason=str(runtime_unavailable_reason())
    ),
]

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$")
PATH = "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"
SECRETS = "/var/run/secrets/kubernetes.io/serviceaccount"

PROBE = r"""
import json, os, sys
out = {
    "environ": dict(
        e.split("=", 1) for e in open("/proc/self/environ").read().split("\0") if e
    ),
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "dagster_yaml": open("/opt/dagster/dagster_home/dagster.yaml").read(),
    "token": open("/var/run/secrets/kubernetes.io/serviceaccount/token").read(),
    "writes": {},
}
for path in sys.argv[1:]:
    try:
        with open(path, "w") as f:
            f.write("written by the container\n")
        out["writes"][path] = "ok"
    except OSError as e:
        out["writes"][path] = __import__("errno").errorcode[e.errno]
print("to stderr", file=sys.stderr, flush=True)
print(json.dumps(out), flush=True)
sys.stdout.write("no newline at the end")
"""


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image as tests/rehearsal/image.py builds one: rootfs/opt/{venv,dagster/...}.

    The venv is created with /opt privately bound to rootfs/opt, so its paths are /opt/venv.
    """
    image = tmp_path_factory.mktemp("image")
    opt = image / "rootfs" / "opt"
    (opt / "dagster" / "app").mkdir(parents=True)
    (opt / "dagster" / "dagster_home").mkdir()
    (opt / "dagster" / "app" / "probe.py").write_text(PROBE)
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" /opt && exec "$2" -m venv --without-pip /opt/venv',
            "sh", str(opt), str(base_python),
        ],
        check=True,
    )  # fmt: skip
    (image / "image.json").write_text(json.dumps({"env": [], "workdir": "/opt/dagster/app"}))
    return image


def make_spec(tmp_path: Path, argv: list[str], **overrides) -> ContainerSpec:
    name = f"test_{uuid.uuid4().hex[:10]}"
    values = {
        "name": name,
        "argv": argv,
        "env": {"PATH": PATH},
        "workdir": "/",
        "image_dir": None,
        "run_as_user": None,
        "run_as_group": None,
        "read_only_root": False,
        "mounts": [],
        "memory_limit_bytes": None,
        "log_path": tmp_path / "logs" / f"{name}.log",
    }
    values.update(overrides)
    return ContainerSpec(**values)


def log_lines(spec: ContainerSpec) -> list[str]:
    lines = []
    for raw in spec.log_path.read_text().splitlines():
        match = LOG_LINE.match(raw)
        assert match, f"log line without an RFC 3339 nano timestamp: {raw!r}"
        lines.append(match.group(2))
    return lines


@pytest.fixture(autouse=True)
def host_mounts_unchanged():
    """No test leaves (or makes, even for a while) a mount in the host's namespace."""
    before = host_mounts()
    yield
    assert host_mounts() == before


def assert_cleaned_up(proc: ContainerProcess) -> None:
    assert proc.cgroup_path is None or not proc.cgroup_path.exists()
    assert not proc.scratch_dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def run(spec: ContainerSpec, timeout: float = 20) -> tuple[ExitStatus, list[str]]:
    proc = start_container(spec)
    status = proc.wait(timeout)
    if status is None:
        proc.kill()
        pytest.fail(f"{spec.name} still running after {timeout}s: {spec.log_path.read_text()}")
    assert_cleaned_up(proc)
    assert status.started_at <= status.finished_at
    return status, log_lines(spec)


def host_mounts() -> list[str]:
    return sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())


def process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_image_as_user_read_only_root_mounts_env_and_logs(image_dir: Path, tmp_path: Path):
    """uid 10001 runs the image's venv Python (its base Python is under /root, mode 700)."""
    empty_tmp = tmp_path / "emptydir-tmp"
    empty_tmp.mkdir()
    dagster_yaml = tmp_path / "dagster.yaml"
    dagster_yaml.write_text("telemetry:\n  enabled: false\n")
    secrets = tmp_path / "serviceaccount"
    secrets.mkdir()
    (secrets / "token").write_text("fake-token")
    (secrets / "namespace").write_text("default")
    host_secrets_existed = Path(SECRETS).exists()
    host_opt = sorted(os.listdir("/opt"))
    image_files = sorted(str(p) for p in image_dir.rglob("*"))
    marker = f"probe-{uuid.uuid4().hex}"
    env = {
        "PATH": PATH,
        "HOME": "/tmp",
        "DAGSTER_HOME": "/opt/dagster/dagster_home",
        "PYTHONUNBUFFERED": "1",
        "ODD VALUE": "a=b c\td",
    }
    writes = [f"/tmp/{marker}", f"/opt/dagster/app/{marker}", f"/etc/{marker}", f"/{marker}",
              f"{SECRETS}/{marker}", f"/opt/dagster/dagster_home/{marker}",
              "/opt/dagster/dagster_home/dagster.yaml"]  # fmt: skip
    spec = make_spec(
        tmp_path,
        ["python", "probe.py", *writes],
        env=env,
        workdir="/opt/dagster/app",
        image_dir=image_dir,
        run_as_user=10001,
        run_as_group=10001,
        read_only_root=True,
        mounts=[
            Mount("/tmp", empty_tmp, read_only=False),
            Mount("/opt/dagster/dagster_home/dagster.yaml", dagster_yaml),
            Mount(SECRETS, secrets),
        ],
    )
    status, lines = run(spec)
    assert (status.exit_code, status.reason) == (0, "Completed"), lines
    assert lines[0] == "to stderr"
    assert lines[-1] == "no newline at the end"
    probe = json.loads(lines[1])
    assert probe["environ"] == env  # nothing from the host
    assert probe["argv"] == ["probe.py", *writes]
    assert probe["cwd"] == "/opt/dagster/app"
    assert probe["ids"] == [10001, 10001, 10001, 10001, []]
    assert probe["prefix"] == "/opt/venv"
    assert probe["base_prefix"] == sys.base_prefix
    assert probe["dagster_yaml"] == dagster_yaml.read_text()
    assert probe["token"] == "fake-token"
    assert probe["writes"] == {
        f"/tmp/{marker}": "ok",
        f"/opt/dagster/app/{marker}": "EROFS",
        f"/etc/{marker}": "EROFS",
        f"/{marker}": "EROFS",
        f"{SECRETS}/{marker}": "EROFS",
        f"/opt/dagster/dagster_home/{marker}": "EROFS",
        "/opt/dagster/dagster_home/dagster.yaml": "EROFS",
    }
    # The emptyDir got the write, as the pod user; nothing else on the host changed.
    assert (empty_tmp / marker).stat().st_uid == 10001
    assert not Path("/tmp", marker).exists()
    assert Path(SECRETS).exists() == host_secrets_existed
    assert sorted(os.listdir("/opt")) == host_opt
    assert sorted(str(p) for p in image_dir.rglob("*")) == image_files
    assert oct(Path("/root").stat().st_mode & 0o777) == "0o700"


def test_writable_root_is_private_to_the_container(image_dir: Path, tmp_path: Path):
    """Without read_only_root, writes land in the container's own layer, not on the host."""
    marker = f"probe-{uuid.uuid4().hex}"
    targets = [f"/etc/{marker}", f"/opt/dagster/app/{marker}", f"/tmp/{marker}",
               f"/var/run/secrets/{marker}"]  # fmt: skip
    script = "; ".join(
        f"mkdir -p {os.path.dirname(t)} && echo hi > {t} && cat {t}" for t in targets
    )
    spec = make_spec(tmp_path, ["sh", "-c", script], image_dir=image_dir)
    status, lines = run(spec)
    assert (status.exit_code, status.reason) == (0, "Completed"), lines
    assert lines == ["hi"] * len(targets)
    for target in targets:
        assert not Path(target).exists()
    assert Path("/var/run/secrets").exists() == Path(SECRETS).exists()
    assert not list(image_dir.rglob(marker))


def test_memory_limit_oom_kills(tmp_path: Path):
    limit = 100 * 1024 * 1024
    hog = make_spec(
        tmp_path,
        ["/usr/bin/python3", "-c", "b = b'x' * (300 << 20); print('survived')"],
        memory_limit_bytes=limit,
    )
    modest = make_spec(
        tmp_path,
        ["/usr/bin/python3", "-c", "b = b'x' * (20 << 20); print('fine')"],
        memory_limit_bytes=limit,
    )
    sleeper = make_spec(tmp_path, ["sleep", "300"], memory_limit_bytes=limit)
    try:
        procs = [start_container(hog), start_container(modest), start_container(sleeper)]
    except RuntimeError as e:
        if "no writable memory cgroup" in str(e):
            pytest.skip(str(e))
        raise
    cgroup = procs[2].cgroup_path
    assert cgroup is not None
    assert (cgroup / "memory.limit_in_bytes").read_text().strip() == str(limit)
    procs[2].kill()
    statuses = [proc.wait(20) for proc in procs]
    for proc in procs:
        assert_cleaned_up(proc)
    assert statuses[0] is not None and statuses[1] is not None
    assert (statuses[0].exit_code, statuses[0].reason) == (137, "OOMKilled")
    assert "survived" not in log_lines(hog)
    assert (statuses[1].exit_code, statuses[1].reason) == (0, "Completed")
    assert log_lines(modest) == ["fine"]


def test_kill_takes_the_double_forked_tree(tmp_path: Path):
    script = textwrap.dedent(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                print("grandchild", os.getpid(), flush=True)
                time.sleep(300)
            os._exit(0)
        print("main", os.getpid(), flush=True)
        time.sleep(300)
        """
    )
    spec = make_spec(tmp_path, ["/usr/bin/python3", "-c", script])
    proc = start_container(spec)
    pids: dict[str, int] = {}
    deadline = time.monotonic() + 15
    while len(pids) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        if spec.log_path.exists():
            pids = {line.split()[0]: int(line.split()[1]) for line in log_lines(spec)}
    assert set(pids) == {"main", "grandchild"}, spec.log_path.read_text()
    assert pids["main"] == proc.pid
    assert proc.poll() is None
    proc.kill()
    proc.kill()  # idempotent
    status = proc.poll()
    assert status is not None and (status.exit_code, status.reason) == (137, "Error")
    assert_cleaned_up(proc)
    deadline = time.monotonic() + 5
    while process_alive(pids["grandchild"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pids["grandchild"])


def test_exit_codes_signals_and_the_end_of_the_main_process(tmp_path: Path):
    # The main process exiting takes the container's other processes with it.
    spec = make_spec(tmp_path, ["sh", "-c", "sleep 300 & echo $!; exit 3"])
    started = time.perf_counter()
    proc = start_container(spec)
    start_s = time.perf_counter() - started
    status = proc.wait(20)
    assert status is not None and (status.exit_code, status.reason) == (3, "Error")
    assert_cleaned_up(proc)
    assert not process_alive(int(log_lines(spec)[0]))
    assert start_s < 1.0  # start_container does not wait for the init

    status, _ = run(make_spec(tmp_path, ["sh", "-c", "kill -TERM $$"]))
    assert (status.exit_code, status.reason) == (143, "Error")

    status, lines = run(make_spec(tmp_path, ["no-such-command"]))
    assert status.exit_code == 127 and status.reason == "Error"
    assert "no-such-command" in lines[-1]

    status, lines = run(make_spec(tmp_path, ["pwd"], workdir="/srv/created/by/runtime"))
    assert (status.exit_code, lines) == (0, ["/srv/created/by/runtime"])
    assert not Path("/srv/created").exists()
