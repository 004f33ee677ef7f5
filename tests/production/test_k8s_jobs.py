"""What the production k8s executor would submit for a heavy and a light step.

No API server runs here, so the Job manifests are built with dagster-k8s's own
functions from the real inputs, merged in the order the executor merges them
(``K8sStepHandler._get_container_context``):
1. the run launcher of deploy/dagster.yaml (a real ``K8sRunLauncher``);
2. the code location's container context, as the rt chart renders it into
   ``DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT``;
3. the executor config of ``resources.deployment.k8s_executor_config``;
4. the asset's own ``dagster-k8s/config`` op tag from the loaded definitions;
then ``construct_dagster_k8s_job``, and strict schema validation.
"""

import json
import os
import subprocess
import sys
import uuid

import dagster as dg
import pytest
import yaml
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_k8s_job_name,
    get_user_defined_k8s_config,
)
from kubernetes.client import ApiClient

from resources import k8s
from resources.deployment import k8s_executor_config
from tests.production.conftest import NAMESPACE, REPO_ROOT, validate_strict

IMAGE = "ghcr.io/example/rt-lake-rt:0.1.0"
INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "dagster-dagster-postgresql",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "unused-here",
    "DAGSTER_K8S_NAMESPACE": NAMESPACE,
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "dagster-dagster-instance",
    "DAGSTER_K8S_INSTANCE_ENV_CONFIG_MAP": "dagster-dagster-instance-env",
    "DAGSTER_K8S_PG_PASSWORD_SECRET": "dagster-postgresql",
    "DAGSTER_K8S_RUN_SERVICE_ACCOUNT": "dagster-dagster",
    "DAGSTER_COMPUTE_LOGS_BUCKET": "logs",
    "DAGSTER_COMPUTE_LOGS_PREFIX": "compute-logs",
}


@pytest.fixture
def run_launcher(monkeypatch, tmp_path) -> K8sRunLauncher:
    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    launcher_config = dict(config["run_launcher"]["config"])
    # In the cluster the launcher uses the in-cluster config; here a kubeconfig
    # that is parsed and never contacted.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    launcher_config.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    result = dg._config.process_config(K8sRunLauncher.config_type(), launcher_config)
    assert result.success, result.errors
    return K8sRunLauncher.from_config_value(None, result.value)


@pytest.fixture(scope="module")
def rt_container_context(helm) -> dict:
    docs = helm.template("rt", "code-location", "values/rt.yaml")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return json.loads(env["DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"])


def _step_tags(asset_key: str) -> dict:
    from lake_assets.definitions import defs as lake_defs
    from rt_assets.definitions import defs as rt_defs

    defs = rt_defs if asset_key.startswith("rt/") else lake_defs
    assets_def = defs.resolve_assets_def(dg.AssetKey.from_user_string(asset_key))
    return dict(assets_def.op.tags)


def build_step_job(launcher, container_context: dict, asset_key: str) -> dict:
    """The step Job, merged like K8sStepHandler does, as a camelCase manifest."""
    origin = JobPythonOrigin(
        "__ASSET_JOB",
        RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer("rt_assets.definitions", "defs", None),
            container_image=IMAGE,
            container_context=container_context,
        ),
    )
    run_id = str(uuid.uuid4())
    run = DagsterRun(job_name="__ASSET_JOB", run_id=run_id, job_code_origin=origin)
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)

    exc_cfg = k8s_executor_config()
    executor_context = K8sContainerContext(
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(exc_cfg.get("step_k8s_config", {}))
    )
    context = context.merge(executor_context)
    context = context.merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(_step_tags(asset_key)))
    )
    job_config = context.get_k8s_job_config(IMAGE, launcher)
    step_key = asset_key.replace("/", "__")
    job_name = f"dagster-step-{get_k8s_job_name(run_id, step_key)}"
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name=job_name,
        pod_name=job_name,
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": "__ASSET_JOB", "dagster/op": step_key, "dagster/run-id": run_id},
        env_vars=[
            {"name": "DAGSTER_RUN_JOB_NAME", "value": "__ASSET_JOB"},
            {"name": "DAGSTER_RUN_STEP_KEY", "value": step_key},
        ],
    )
    manifest = ApiClient().sanitize_for_serialization(job)
    manifest.setdefault("apiVersion", "batch/v1")
    manifest.setdefault("kind", "Job")
    manifest["metadata"]["namespace"] = context.namespace
    return manifest


def _container(manifest: dict) -> dict:
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    return container


def _common_assertions(manifest: dict) -> None:
    spec = manifest["spec"]
    pod = spec["template"]["spec"]
    container = _container(manifest)
    assert manifest["metadata"]["namespace"] == NAMESPACE
    assert container["image"] == IMAGE
    assert pod["serviceAccountName"] == "rt-code-location"
    # Nothing lingers: the Job and its pod go after the TTL, success or failure;
    # retries are Dagster's, not silent pod restarts.
    assert spec["ttlSecondsAfterFinished"] == 600
    assert spec["backoffLimit"] == 0
    assert pod["restartPolicy"] == "Never"
    env_from = container["envFrom"]
    assert {"secretRef": {"name": "rt-lake-rt-secrets"}} in env_from
    assert {"configMapRef": {"name": "rt-code-location-env"}} in env_from
    assert {"configMapRef": {"name": "dagster-dagster-instance-env"}} in env_from
    env = {e["name"]: e for e in container["env"]}
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "dagster-postgresql"
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert validate_strict(manifest) == "1.33"


def test_inference_step_job_goes_to_high_memory_pool(run_launcher, rt_container_context):
    manifest = build_step_job(run_launcher, rt_container_context, "rt/inference")
    _common_assertions(manifest)
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {k8s.POOL_LABEL: "high-memory"}
    assert pod["tolerations"] == [
        {"key": k8s.POOL_LABEL, "operator": "Equal", "value": "high-memory", "effect": "NoSchedule"}
    ]
    resources = _container(manifest)["resources"]
    # The sizes docs/production.md gives for the high-memory pool, as literals: a test
    # that reads the constants the code reads would follow any slip in them.
    assert resources["requests"]["cpu"] == "4"
    assert resources["requests"]["memory"] == "1792Mi"
    assert resources["limits"]["memory"] == "2560Mi"
    assert manifest["spec"]["activeDeadlineSeconds"] == 7200
    assert manifest["spec"]["template"]["metadata"]["labels"][k8s.POOL_LABEL] == "high-memory"


@pytest.mark.parametrize("asset_key", ["rt/processed_counts", "lake/silver_flights"])
def test_light_step_job_stays_on_default_pool(run_launcher, rt_container_context, asset_key):
    manifest = build_step_job(run_launcher, rt_container_context, asset_key)
    _common_assertions(manifest)
    pod = manifest["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod or not pod["nodeSelector"]
    assert not pod.get("tolerations")
    resources = _container(manifest)["resources"]
    assert resources["requests"] == {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "256Mi"}
    assert resources["limits"]["memory"] == "2Gi"


def test_heavy_requests_follow_the_environment(monkeypatch):
    monkeypatch.setenv("K8S_HEAVY_MEMORY_LIMIT", "12Gi")
    monkeypatch.setenv("K8S_HEAVY_POOL", "himem-spot")
    config = json.loads(k8s.step_tags(k8s.HEAVY)[k8s.K8S_CONFIG_TAG])
    assert config["container_config"]["resources"]["limits"]["memory"] == "12Gi"
    assert config["pod_spec_config"]["node_selector"] == {k8s.POOL_LABEL: "himem-spot"}
    # Same settings, same bytes: the tag is part of the definition snapshot.
    assert k8s.step_tags(k8s.HEAVY) == k8s.step_tags(k8s.HEAVY)
    with pytest.raises(ValueError, match="step kind"):
        k8s.step_tags("medium")


@pytest.mark.parametrize("source", ["helm", "dagster_cloud"])
def test_lake_location_sizes_its_light_steps_for_a_full_year(monkeypatch, source):
    """A 7 M-row year peaks at 451 MB in the lake steps from monthly files and at 1.1-1.2 GB
    from one whole-year file (benchmarks/results/2026-12-02-lake-decade.md): the lake
    location's deployment settings keep the light limit at twice the whole-year peak or
    more, and the request above the monthly one."""
    from dagster_cloud_cli.config.loader import DagsterCloudLocationsConfigLoader

    if source == "helm":
        values = yaml.safe_load((REPO_ROOT / "helm" / "values" / "lake.yaml").read_text())
        env = values["env"]
    else:
        processed = DagsterCloudLocationsConfigLoader.load_from_template(
            str(REPO_ROOT / "dagster_cloud.yaml"), {}
        )
        (lake,) = [loc for loc in processed.locations if loc.location_name == "lake"]
        env = dict(item.split("=", 1) for item in lake.container_context["k8s"]["env_vars"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resources = k8s.k8s_config(k8s.LIGHT)["container_config"]["resources"]
    limit, request = resources["limits"]["memory"], resources["requests"]["memory"]
    assert limit.endswith("Gi") and int(limit[:-2]) * 1024**3 >= 2 * 1.2e9
    assert request.endswith("Gi") and int(request[:-2]) * 1024**3 > 451e6
    assert "node_selector" not in k8s.k8s_config(k8s.LIGHT)["pod_spec_config"]


def test_every_asset_declares_its_step_kind():
    from lake_assets.definitions import defs as lake_defs
    from rt_assets.definitions import defs as rt_defs

    kinds = {}
    for defs in (rt_defs, lake_defs):
        for assets_def in defs.resolve_asset_graph().assets_defs:
            if not assets_def.is_executable:
                continue
            for key in assets_def.keys:
                kinds[key.to_user_string()] = assets_def.op.tags.get(k8s.STEP_KIND_TAG)
    assert kinds["rt/inference"] == k8s.HEAVY
    missing = sorted(key for key, kind in kinds.items() if kind not in (k8s.HEAVY, k8s.LIGHT))
    assert missing == []
    assert [key for key, kind in kinds.items() if kind == k8s.HEAVY] == ["rt/inference"]


@pytest.mark.slow
def test_production_definitions_use_the_k8s_executor():
    """The rt code location, imported with a production environment (as its code
    server is), runs every asset job on the configured k8s executor."""
    env = {
        "DAGSTER_DEPLOYMENT": "production",
        "LAKE_URL": "s3://rt-lake-prod-rt/lake",
        "WAREHOUSE_URL": "postgresql+psycopg://u@db/warehouse",
        "RT_MAX_INFERENCE_PODS": "7",
    }
    code = (
        "import json\n"
        "from rt_assets.definitions import defs\n"
        "job = defs.resolve_implicit_global_asset_job_def()\n"
        "config = job.executor_def.apply_config_mapping({}).value['config']\n"
        "print(json.dumps({'name': job.executor_def.name, 'config': config}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["name"] == "k8s"
    config = out["config"]
    assert config["max_concurrent"] == 25
    assert config["tag_concurrency_limits"] == [
        {"key": k8s.STEP_KIND_TAG, "value": k8s.HEAVY, "limit": 7}
    ]
    assert config["retries"] == {"enabled": {}}
    assert config["step_k8s_config"]["job_spec_config"]["ttl_seconds_after_finished"] == 600
    assert config["enable_owner_references"] is True
