"""The Helm charts, rendered by a real helm binary and validated strictly.

helm/dagster-platform (webserver, daemon, instance config, optional Postgres)
and helm/code-location (installed once per location) are rendered the way the
install steps of docs/production.md do; every manifest must pass `kubernetes-validate
--strict` for the pinned Kubernetes version, and the hardening docs/production.md promises
(non-root, no privilege escalation, read-only root, limits) is checked on
every container.
"""

import json

import pytest
import yaml
from dagster_k8s.container_context import K8sContainerContext

from tests.production.conftest import K8S_VERSION, NAMESPACE, REPO_ROOT, validate_strict

RENDERS = {
    "platform": ("dagster", "dagster-platform", ()),
    "platform-external-db": (
        "dagster",
        "dagster-platform",
        (),
        ("postgresql.enabled=false", "postgresql.externalHost=db.example.internal"),
    ),
    "rt": ("rt", "code-location", ("values/rt.yaml",)),
    "lake": ("lake", "code-location", ("values/lake.yaml",)),
}


@pytest.fixture(scope="module")
def rendered(helm) -> dict[str, list[dict]]:
    out = {}
    for name, spec in RENDERS.items():
        release, chart, values = spec[:3]
        sets = spec[3] if len(spec) > 3 else ()
        out[name] = helm.template(release, chart, *values, sets=sets)
    return out


def _pod_specs(docs):
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def test_charts_lint(helm):
    for chart, values in (("dagster-platform", []), ("code-location", ["values/rt.yaml"])):
        args = ["lint", "--strict", str(REPO_ROOT / "helm" / chart), "--kube-version", K8S_VERSION]
        for v in values:
            args += ["-f", str(REPO_ROOT / "helm" / v)]
        proc = helm.run(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_every_rendered_manifest_validates_strictly(rendered, name):
    docs = rendered[name]
    assert docs
    for doc in docs:
        assert validate_strict(doc) == "1.33", doc["metadata"]["name"]


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_pods_are_hardened_and_limited(rendered, name):
    specs = list(_pod_specs(rendered[name]))
    assert specs
    for workload, pod in specs:
        assert pod["securityContext"]["runAsNonRoot"] is True, workload
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, workload
            assert sc["readOnlyRootFilesystem"] is True, workload
            assert sc["capabilities"] == {"drop": ["ALL"]}, workload
            limits = container["resources"]["limits"]
            assert limits["cpu"] and limits["memory"], workload
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), workload


def test_platform_wiring(rendered):
    docs = {(d["kind"], d["metadata"]["name"]): d for d in rendered["platform"]}
    assert ("StatefulSet", "dagster-dagster-postgresql") in docs
    instance = yaml.safe_load(docs["ConfigMap", "dagster-dagster-instance"]["data"]["dagster.yaml"])
    assert instance == yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    env = docs["ConfigMap", "dagster-dagster-instance-env"]["data"]
    assert env["DAGSTER_PG_HOST"] == "dagster-dagster-postgresql"
    assert env["DAGSTER_K8S_NAMESPACE"] == NAMESPACE
    workspace = yaml.safe_load(
        docs["ConfigMap", "dagster-dagster-workspace"]["data"]["workspace.yaml"]
    )
    servers = {e["grpc_server"]["location_name"]: e["grpc_server"] for e in workspace["load_from"]}
    # The webserver finds each location at the Service its own release creates.
    for location in ("rt", "lake"):
        services = [d for d in rendered[location] if d["kind"] == "Service"]
        assert [s["metadata"]["name"] for s in services] == [servers[location]["host"]]
        assert services[0]["spec"]["ports"][0]["port"] == servers[location]["port"]
    # External database: no in-cluster Postgres, the host comes from values.
    external = {(d["kind"], d["metadata"]["name"]): d for d in rendered["platform-external-db"]}
    assert not any(kind == "StatefulSet" for kind, _ in external)
    ext_env = external["ConfigMap", "dagster-dagster-instance-env"]["data"]
    assert ext_env["DAGSTER_PG_HOST"] == "db.example.internal"


@pytest.mark.parametrize("location", ["rt", "lake"])
def test_code_location_release_is_self_contained(rendered, location):
    docs = rendered[location]
    other = "lake" if location == "rt" else "rt"
    names = {d["metadata"]["name"] for d in docs}
    assert all(n.startswith(f"{location}-") for n in names), names
    # Nothing of the other location: its names, image, bucket, secrets or IAM role.
    text = json.dumps(docs)
    markers = (f"{other}-code-location", f"rt-lake-{other}", f"prod-{other}", f"{other}_assets")
    for marker in markers:
        assert marker not in text
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f"role/rt-lake-{location}"
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["image"] == f"ghcr.io/example/rt-lake-{location}:0.1.0"
    assert f"--module-name={location}_assets.definitions" in container["args"]
    assert {"secretRef": {"name": f"rt-lake-{location}-secrets"}} in container["envFrom"]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert config["DAGSTER_DEPLOYMENT"] == "production"
    assert config["LAKE_URL"] == f"s3://rt-lake-prod-{location}/lake"
    # The container context runs and steps inherit parses with dagster-k8s itself.
    env = {e["name"]: e.get("value") for e in container["env"]}
    context = K8sContainerContext.create_from_config(
        json.loads(env["DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"])
    )
    run_config = context.run_k8s_config
    assert run_config.pod_spec_config["service_account_name"] == sa["metadata"]["name"]
    assert run_config.container_config["env_from"] == [
        {"config_map_ref": {"name": f"{location}-code-location-env"}},
        {"secret_ref": {"name": f"rt-lake-{location}-secrets"}},
    ]
    assert context.namespace == NAMESPACE
    assert env["DAGSTER_CURRENT_IMAGE"] == container["image"]


def test_missing_location_values_fail_to_render(helm):
    proc = helm.run("template", "x", str(REPO_ROOT / "helm" / "code-location"))
    assert proc.returncode != 0
    assert "location.name is required" in proc.stderr
