"""Deployment files read by their own tools: dagster_cloud.yaml with the Dagster+
CLI's loader, deploy/dagster.yaml with Dagster's instance schema (and its
storage section against a real PostgreSQL), workspace.yaml, Dockerfiles; and
the dev/prod slip-up guard: production settings point at production places."""

import json
import re
from pathlib import Path

import pytest
import yaml

from lake_assets.resources import lake_resources
from rt_assets.resources import rt_resources
from tests.production.conftest import REPO_ROOT

INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "x",
    "DAGSTER_K8S_NAMESPACE": "dagster",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "dagster-dagster-instance",
    "DAGSTER_K8S_INSTANCE_ENV_CONFIG_MAP": "dagster-dagster-instance-env",
    "DAGSTER_K8S_PG_PASSWORD_SECRET": "dagster-postgresql",
    "DAGSTER_K8S_RUN_SERVICE_ACCOUNT": "dagster-dagster",
    "DAGSTER_COMPUTE_LOGS_BUCKET": "logs",
    "DAGSTER_COMPUTE_LOGS_PREFIX": "compute-logs",
}


def _cloud_locations():
    from dagster_cloud_cli.config.loader import DagsterCloudLocationsConfigLoader

    processed = DagsterCloudLocationsConfigLoader.load_from_template(
        str(REPO_ROOT / "dagster_cloud.yaml"), {}
    )
    return {loc.location_name: loc for loc in processed.locations}


def test_dagster_cloud_yaml_passes_the_cli_check():
    from dagster_cloud_cli.commands.ci.checks import check_dagster_cloud_yaml

    result = check_dagster_cloud_yaml(REPO_ROOT / "dagster_cloud.yaml")
    assert result.errors == []


def test_dagster_cloud_locations_and_container_contexts():
    from dagster_k8s.container_context import K8sContainerContext

    locations = _cloud_locations()
    assert sorted(locations) == ["lake", "rt"]
    for name, loc in locations.items():
        assert loc.code_source.module_name == f"{name}_assets.definitions"
        # The k8s part must be valid dagster-k8s container context config.
        context = K8sContainerContext.create_from_config(loc.container_context)
        run = context.run_k8s_config
        assert run.pod_spec_config["service_account_name"] == f"{name}-code-location"
        assert {"secret_ref": {"name": f"rt-lake-{name}-secrets"}} in run.container_config[
            "env_from"
        ]
        assert run.job_spec_config["ttl_seconds_after_finished"] == 600
        limits = run.container_config["resources"]["limits"]
        assert limits["memory"] and limits["cpu"]
        server = context.server_k8s_config.container_config
        assert server["security_context"]["run_as_non_root"] is True


def test_dagster_cloud_yaml_schema_rejects_mistakes(tmp_path):
    from dagster_cloud_cli.commands.ci.checks import check_dagster_cloud_yaml

    def errors_for(edit) -> str:
        bad = yaml.safe_load((REPO_ROOT / "dagster_cloud.yaml").read_text())
        edit(bad)
        path = tmp_path / "dagster_cloud.yaml"
        path.write_text(yaml.safe_dump(bad))
        return " ".join(check_dagster_cloud_yaml(path).errors)

    def duplicate(doc):
        doc["locations"][1]["location_name"] = "rt"

    def typo(doc):
        doc["locations"][0]["code_sorce"] = doc["locations"][0].pop("code_source")

    assert "duplicate location name" in errors_for(duplicate)
    assert "code_sorce" in errors_for(typo)


def test_instance_config_is_valid_for_dagster(monkeypatch, tmp_path):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_k8s import K8sRunLauncher

    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    # Each pluggable part's config against its class's own schema.
    for section, cls in (
        ("run_launcher", K8sRunLauncher),
        ("compute_logs", S3ComputeLogManager),
    ):
        result = process_config(cls.config_type(), config[section]["config"])
        assert result.success, (section, result.errors)
    launcher = process_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"]).value
    assert launcher["job_namespace"] == "dagster"
    assert launcher["run_k8s_config"]["job_spec_config"]["ttl_seconds_after_finished"] == 600
    assert config["storage"]["postgres"]["postgres_db"]["hostname"] == {"env": "DAGSTER_PG_HOST"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # A backfill's queued runs wait at most a second for a free slot, not Dagster's 5 s.
    assert config["run_coordinator"]["config"]["dequeue_interval_seconds"] == 1
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["max_resume_run_attempts"] >= 1
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": 2,
        "retry_on_asset_or_op_failure": False,
    }
    assert config["concurrency"]["pools"]["default_limit"] == 25


@pytest.mark.services
def test_instance_storage_on_real_postgres(postgres_server, monkeypatch, tmp_path):
    """The storage section of deploy/dagster.yaml, unchanged, on a real PostgreSQL:
    runs are stored and read back through a second instance."""
    import uuid

    import dagster as dg
    import sqlalchemy as sa

    name = f"dagster_{uuid.uuid4().hex[:8]}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    url = sa.make_url(postgres_server.get_uri())
    monkeypatch.setenv("DAGSTER_PG_HOST", "localhost")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    storage = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())["storage"]
    # pgserver listens on a Unix socket only; libpq's `host` parameter names its
    # folder and takes precedence over the URL's host. The only change to the file.
    storage["postgres"]["postgres_db"]["params"] = {"host": url.query["host"]}
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({"storage": storage, "telemetry": {"enabled": False}})
    )

    @dg.asset
    def ping() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize([ping], instance=instance)
        assert result.success
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_run_by_id(result.run_id).is_success


def test_workspace_yaml_names_both_locations():
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    modules = {
        e["python_module"]["location_name"]: e["python_module"]["module_name"]
        for e in workspace["load_from"]
    }
    assert modules == {"rt": "rt_assets.definitions", "lake": "lake_assets.definitions"}


@pytest.mark.parametrize("location", ["rt", "lake"])
def test_dockerfiles_install_from_the_lock(location):
    text = (REPO_ROOT / "docker" / f"{location}.Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in text
    assert "COPY pyproject.toml uv.lock" in text
    assert f"--module-name={location}_assets.definitions" in text
    assert re.search(r"^USER 10001", text, re.M)
    other = "lake" if location == "rt" else "rt"
    assert f"COPY {other}_assets/" not in text
    # uv in the image is the one CI pins.
    makefile_uv = re.search(r"UV_VERSION := (\S+)", (REPO_ROOT / "Makefile").read_text())
    assert f"ghcr.io/astral-sh/uv:{makefile_uv.group(1)}" in text


# --- dev/prod slip-ups -------------------------------------------------------

DEV_MARKERS = ("dev", "staging", "test", "localhost", "127.0.0.1", "minio", ".lake", "sqlite")


def _helm_env(location: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "helm" / "values" / f"{location}.yaml").read_text())["env"]


def _cloud_env(location: str) -> dict:
    env = _cloud_locations()[location].container_context["k8s"]["env_vars"]
    return dict(item.split("=", 1) for item in env)


@pytest.mark.parametrize("location", ["rt", "lake"])
def test_production_settings_point_at_production(location):
    for env in (_helm_env(location), _cloud_env(location)):
        assert env["DAGSTER_DEPLOYMENT"] == "production"
        lake = env["LAKE_URL"]
        assert lake.startswith("s3://"), lake
        bucket = lake.removeprefix("s3://").split("/", 1)[0]
        # Each location writes only to its own production bucket.
        assert bucket == f"rt-lake-prod-{location}", bucket
        for marker in DEV_MARKERS:
            assert marker not in json.dumps(env).lower(), (location, marker)
        # Alert and re-run links open the webserver people use, not 127.0.0.1:3000.
        assert env["DAGSTER_UI_URL"].startswith("https://"), env
    # Helm and Dagster+ deploy the same thing.
    for key in ("LAKE_URL", "DAGSTER_UI_URL"):
        assert _helm_env(location)[key] == _cloud_env(location)[key]


def test_production_resources_refuse_local_fallbacks(monkeypatch):
    monkeypatch.setenv("DAGSTER_DEPLOYMENT", "production")
    monkeypatch.delenv("LAKE_URL", raising=False)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    for build in (rt_resources, lake_resources):
        with pytest.raises(ValueError, match="LAKE_URL is not set"):
            build()
    monkeypatch.setenv("LAKE_URL", str(Path.cwd() / ".lake"))
    monkeypatch.setenv("WAREHOUSE_URL", "sqlite:///x.sqlite")
    with pytest.raises(ValueError) as refused:
        lake_resources()
    assert "is a local path, not an object store URL" in str(refused.value)
    assert "WAREHOUSE_URL must be a postgresql+psycopg:// URL, got 'sqlite:///x.sqlite'" in str(
        refused.value
    )
    monkeypatch.setenv("LAKE_URL", "s3://rt-lake-prod-rt/lake")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql+psycopg://rt:example-pw@db.internal/warehouse")
    resources = lake_resources()
    # The IO manager resolves to the production bucket, not ./.lake.
    assert str(resources["io_manager"].store().base) == "s3://rt-lake-prod-rt/lake"


def test_each_location_is_checked_only_for_the_resources_it_uses(monkeypatch):
    """rt uses no warehouse: with the rt secret of docs/production.md (no WAREHOUSE_URL) it loads;
    lake does use one, and refuses to load without it."""
    monkeypatch.setenv("DAGSTER_DEPLOYMENT", "production")
    monkeypatch.setenv("LAKE_URL", "s3://rt-lake-prod-rt/lake")
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    assert sorted(rt_resources()) == ["alerts", "io_manager", "rt_sampler", "rt_staging_policy"]
    with pytest.raises(ValueError, match="WAREHOUSE_URL is not set"):
        lake_resources()
    monkeypatch.setenv("WAREHOUSE_URL", "sqlite:///x.sqlite")
    assert sorted(rt_resources()) == ["alerts", "io_manager", "rt_sampler", "rt_staging_policy"]


def test_refusal_hides_the_warehouse_password(monkeypatch):
    monkeypatch.setenv("DAGSTER_DEPLOYMENT", "production")
    monkeypatch.setenv("LAKE_URL", "s3://rt-lake-prod-lake/lake")
    monkeypatch.setenv("WAREHOUSE_URL", "mysql://lake:sentinel-pw@db/warehouse")
    with pytest.raises(ValueError) as refused:
        lake_resources()
    assert "sentinel-pw" not in str(refused.value)
    assert "mysql://lake:***@db/warehouse" in str(refused.value)


def test_local_deployment_keeps_embedded_defaults(monkeypatch):
    from resources.deployment import executor

    monkeypatch.delenv("DAGSTER_DEPLOYMENT", raising=False)
    monkeypatch.delenv("LOCAL_STEP_START", raising=False)
    local = executor()
    assert local.name == "in_process"
    assert local.apply_config_mapping({}).value["config"] == {"retries": {"enabled": {}}}
    for method in ("spawn", "forkserver"):
        monkeypatch.setenv("LOCAL_STEP_START", method)
        multiprocess = executor()
        assert multiprocess.name == "multiprocess"
        config = multiprocess.apply_config_mapping({}).value["config"]
        assert config["start_method"] == {method: {}}
        assert config["retries"] == {"enabled": {}}
    monkeypatch.setenv("DAGSTER_DEPLOYMENT", "production")
    assert executor().name == "k8s"
