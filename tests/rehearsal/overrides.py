"""The only ways the rehearsal's deployment differs from what the documented install creates.

Everything else the pods get is the rendered charts plus the install steps' secrets,
unchanged. Each :class:`Override` says what it changes, why the rehearsal
cannot do without it, and which fields it may touch;
``tests/rehearsal/test_config.py`` diffs the objects before and after and
fails on any change outside those fields. :func:`describe` renders the list as
the Markdown table docs/production.md shows.

Field paths name list items by their ``name`` where a list's items have
unique names (containers, env, ports, volumes), and look inside the YAML a
ConfigMap carries (``data[dagster.yaml].run_monitoring.poll_interval_seconds``).
"""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import yaml

from tests.rehearsal.charts import RenderedDeployment

FieldPath = tuple  # keys, list indexes, Named list items, Embedded YAML values
ANY = "*"  # in a FieldRef's path: any one key or list item

INSTANCE_CONFIGMAP = "dagster-dagster-instance"
INSTANCE_ENV_CONFIGMAP = "dagster-dagster-instance-env"
WORKSPACE_CONFIGMAP = "dagster-dagster-workspace"
PLATFORM_POSTGRES = "dagster-dagster-postgresql"
WEBSERVER = "dagster-dagster-webserver"
DAEMON = "dagster-dagster-daemon"
CODE_LOCATION_NAME = "code-location"  # app.kubernetes.io/name of the code-location chart


@dataclass(frozen=True)
class Endpoints:
    """Where the rehearsal's services listen (every pod shares the host network)."""

    postgres_host: str
    postgres_port: int
    s3_endpoint_url: str
    s3_access_key_id: str
    s3_secret_access_key: str
    code_server_ports: Mapping[str, int]  # location name -> port
    webserver_port: int
    code_server_host: str = "127.0.0.1"


@dataclass(frozen=True)
class Timers:
    """Production waits that would outlast the rehearsal; ``None`` keeps production's."""

    # Long enough for the run failure alert to read a failed step's pods (their end reason).
    step_job_ttl_seconds: int | None = 120
    # Long enough for a resumed run to outlive its first run Job: that Job's pod owns the
    # steps it started, so its TTL would take them (the cancel scenario resumes a run twice).
    run_job_ttl_seconds: int | None = 120
    run_monitoring_poll_interval_seconds: int | None = 5
    schedule_crons: Mapping[str, str] = field(default_factory=dict)  # location -> cron


@dataclass(frozen=True)
class RehearsalInputs:
    """What the rehearsal runs on, as the settings docs/configuration.md documents:
    a small state subset with the fast preset, its own COVID source (dates that reach
    the tick), and Slack and the webserver's URL at their local addresses."""

    rt_states: str
    rt_sampler_preset: str
    rt_covid_source: str
    slack_api_url: str
    ui_url: str


@dataclass(frozen=True)
class FieldRef:
    """Fields an override may change: ``path`` and everything under it, in every object
    of ``kind`` whose name matches ``name`` (a glob). An empty path: the whole object
    (added or removed)."""

    kind: str
    name: str
    path: FieldPath = ()

    def matches(self, kind: str, name: str, path: FieldPath) -> bool:
        return (
            kind == self.kind
            and fnmatch.fnmatchcase(name, self.name)
            and len(path) >= len(self.path)
            and all(want is ANY or want == got for want, got in zip(self.path, path, strict=False))
        )

    def __str__(self) -> str:
        where = f"{self.kind}/{self.name}"
        return f"{where} {format_path(self.path)}" if self.path else f"{where} (whole object)"


@dataclass(frozen=True)
class Override:
    what: str
    why: str
    fields: tuple[FieldRef, ...]
    apply: Callable[[RenderedDeployment], None] = field(repr=False)


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int) or part is ANY:
            out += f"[{part}]"
        elif isinstance(part, Named):
            out += f"[{part.name}]"
        elif isinstance(part, Embedded):
            out += f"[{part.key}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Named:
    """A list item found by its ``name``."""

    name: str


@dataclass(frozen=True)
class Embedded:
    """A ConfigMap value holding YAML, looked into."""

    key: str


# --------------------------------------------------------------------------- helpers


def _code_locations(rendered: RenderedDeployment) -> dict[str, dict]:
    """location name -> its code-server Deployment."""
    out = {}
    for dep in rendered.of_kind("Deployment"):
        if dep["metadata"]["labels"].get("app.kubernetes.io/name") != CODE_LOCATION_NAME:
            continue
        container = dep["spec"]["template"]["spec"]["containers"][0]
        names = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--location-name=")]
        if len(names) != 1:
            raise ValueError(
                f"{dep['metadata']['name']}: no --location-name in {container['args']}"
            )
        out[names[0]] = dep
    if not out:
        raise ValueError("no code-location Deployment in the rendered deployment")
    return out


def _env_configmap(dep: dict) -> str:
    """The code location's own env ConfigMap (not the platform's instance env)."""
    container = dep["spec"]["template"]["spec"]["containers"][0]
    refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
    own = [r for r in refs if r != INSTANCE_ENV_CONFIGMAP]
    if len(own) != 1:
        raise ValueError(f"{dep['metadata']['name']}: expected one env ConfigMap, got {refs}")
    return own[0]


def _secrets(dep: dict) -> list[str]:
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _container(dep: dict, name: str | None = None) -> dict:
    containers = dep["spec"]["template"]["spec"]["containers"]
    if name is None:
        return containers[0]
    for c in containers:
        if c["name"] == name:
            return c
    raise KeyError(f"{dep['metadata']['name']}: no container {name}")


def _set_env(container: dict, values: Mapping[str, str]) -> None:
    env = container.setdefault("env", [])
    for key, value in values.items():
        for item in env:
            if item["name"] == key:
                raise ValueError(f"container {container['name']} already sets {key}")
        env.append({"name": key, "value": value})


def _edit_embedded_yaml(configmap: dict, key: str, edit: Callable[[dict], None]) -> None:
    doc = yaml.safe_load(configmap["data"][key])
    edit(doc)
    configmap["data"][key] = yaml.safe_dump(doc, sort_keys=False)


def _dig(doc: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            raise KeyError(f"no {'.'.join(path)} in the instance config (at {key})")
        doc = doc[key]
    return doc


def _replace_arg(args: list[str], old: str, new: str) -> None:
    if old not in args:
        raise ValueError(f"expected {old!r} in {args}")
    args[args.index(old)] = new


# --------------------------------------------------------------------------- the overrides


def overrides(
    endpoints: Endpoints, timers: Timers | None = None, inputs: RehearsalInputs | None = None
) -> list[Override]:
    """Every override, in the order they apply."""
    timers = timers or Timers()
    out = [
        _platform_postgres(endpoints),
        _warehouse_postgres(endpoints),
        _s3(endpoints),
        _code_server_ports(endpoints),
        _webserver_port(endpoints),
    ]
    if timers.step_job_ttl_seconds is not None:
        out.append(_step_job_ttl(timers.step_job_ttl_seconds))
    if timers.run_job_ttl_seconds is not None:
        out.append(_run_job_ttl(timers.run_job_ttl_seconds))
    if timers.run_monitoring_poll_interval_seconds is not None:
        out.append(_run_monitoring_poll(timers.run_monitoring_poll_interval_seconds))
    for location, cron in sorted(timers.schedule_crons.items()):
        out.append(_schedule_cron(location, cron))
    if inputs is not None:
        out += [_rt_inputs(inputs), _alert_endpoints(inputs)]
    return out


def _set_location_env(r: RenderedDeployment, location: str, values: Mapping[str, str]) -> None:
    dep = _code_locations(r)[location]
    data = r.configmap(_env_configmap(dep)).setdefault("data", {})
    data.update(values)


def _rt_inputs(inputs: RehearsalInputs) -> Override:
    values = {
        "RT_DAILY_STATES": inputs.rt_states,
        "RT_SAMPLER_PRESET": inputs.rt_sampler_preset,
        "COVID_SOURCE": inputs.rt_covid_source,
        # A live source's setting (docs/configuration.md): run dates open ended, so the
        # schedule and the freshness checks run, as they do in production on live data.
        "COVID_SOURCE_LAST_DATE": "open",
    }

    def apply(r: RenderedDeployment) -> None:
        _set_location_env(r, "rt", values)

    return Override(
        what=(
            f"the daily run estimates {inputs.rt_states} with the {inputs.rt_sampler_preset} "
            "preset, from a small COVID source on the rt bucket whose dates reach the tick "
            "(COVID_SOURCE_LAST_DATE=open, as for a live source)"
        ),
        why=(
            "the rehearsal must fit CI's budget (51 states with the full preset take about "
            "20 min on 2 cores), and the bundled archive ends in 2021 while the schedule "
            "asks for yesterday"
        ),
        fields=tuple(
            FieldRef("ConfigMap", "rt-code-location-env", ("data", key)) for key in values
        ),
        apply=apply,
    )


def _alert_endpoints(inputs: RehearsalInputs) -> Override:
    values = {"SLACK_API_URL": inputs.slack_api_url, "DAGSTER_UI_URL": inputs.ui_url}

    def apply(r: RenderedDeployment) -> None:
        for location in _code_locations(r):
            _set_location_env(r, location, values)

    return Override(
        what="alerts go to a local HTTP server standing in for Slack, and link the local UI",
        why="no Slack here; the webserver listens on a local port",
        fields=tuple(FieldRef("ConfigMap", "*-code-location-env", ("data", key)) for key in values),
        apply=apply,
    )


def _platform_postgres(ep: Endpoints) -> Override:
    def apply(r: RenderedDeployment) -> None:
        data = r.configmap(INSTANCE_ENV_CONFIGMAP)["data"]
        data["DAGSTER_PG_HOST"] = ep.postgres_host
        data["DAGSTER_PG_PORT"] = str(ep.postgres_port)
        r.remove("StatefulSet", PLATFORM_POSTGRES)
        r.remove("Service", PLATFORM_POSTGRES)

    return Override(
        what=(
            "Dagster's run storage is a local PostgreSQL (pgserver) instead of the chart's "
            "in-cluster StatefulSet: DAGSTER_PG_HOST/PORT point at it, the StatefulSet and "
            "its Service are not installed"
        ),
        why=(
            "no container images or cluster DNS here; the user, database and password stay "
            "the chart's and the install steps' (<password> is the local server's)"
        ),
        fields=(
            FieldRef("ConfigMap", INSTANCE_ENV_CONFIGMAP, ("data", "DAGSTER_PG_HOST")),
            FieldRef("ConfigMap", INSTANCE_ENV_CONFIGMAP, ("data", "DAGSTER_PG_PORT")),
            FieldRef("StatefulSet", PLATFORM_POSTGRES),
            FieldRef("Service", PLATFORM_POSTGRES),
        ),
        apply=apply,
    )


def _warehouse_postgres(ep: Endpoints) -> Override:
    def apply(r: RenderedDeployment) -> None:
        changed = 0
        for secret in r.of_kind("Secret"):
            data = secret.get("data") or {}
            if "WAREHOUSE_URL" not in data:
                continue
            url = urlsplit(base64.b64decode(data["WAREHOUSE_URL"]).decode())
            userinfo = url.netloc.rpartition("@")[0]
            netloc = f"{ep.postgres_host}:{ep.postgres_port}"
            netloc = f"{userinfo}@{netloc}" if userinfo else netloc
            data["WAREHOUSE_URL"] = _b64(urlunsplit(url._replace(netloc=netloc)))
            changed += 1
        if not changed:
            raise ValueError("no Secret holds a WAREHOUSE_URL")

    return Override(
        what="WAREHOUSE_URL (the install steps' Secret) points at the local PostgreSQL",
        why=(
            "the documented URL names port 5432 and a <host>; the local server listens "
            "elsewhere. User, password and database are the documented ones"
        ),
        fields=(FieldRef("Secret", "*", ("data", "WAREHOUSE_URL")),),
        apply=apply,
    )


def _s3(ep: Endpoints) -> Override:
    keys = {
        "AWS_ACCESS_KEY_ID": ep.s3_access_key_id,
        "AWS_SECRET_ACCESS_KEY": ep.s3_secret_access_key,
    }

    def apply(r: RenderedDeployment) -> None:
        for location, dep in _code_locations(r).items():
            data = r.configmap(_env_configmap(dep)).setdefault("data", {})
            if "AWS_ENDPOINT_URL" in data:
                raise ValueError(f"location {location} already sets AWS_ENDPOINT_URL")
            data["AWS_ENDPOINT_URL"] = ep.s3_endpoint_url
            secrets = _secrets(dep)
            if not secrets:
                raise ValueError(f"location {location} has no Secret for the test credentials")
            secret = r.secret(secrets[0]).setdefault("data", {})
            for key, value in keys.items():
                if key in secret:
                    raise ValueError(f"Secret {secrets[0]} already holds {key}")
                secret[key] = _b64(value)
        for name in (WEBSERVER, DAEMON):
            _set_env(
                _container(r.deployment(name)), {"AWS_ENDPOINT_URL": ep.s3_endpoint_url, **keys}
            )

    return Override(
        what=(
            "S3 is a local SeaweedFS: AWS_ENDPOINT_URL in each location's ConfigMap, test "
            "keys in each location's Secret (the first it names), both in the webserver's "
            "and daemon's env (compute logs)"
        ),
        why=(
            "production reaches AWS S3 with IRSA roles on the ServiceAccounts; here there is "
            "no AWS and no IAM, so an S3-compatible server with static keys stands in. "
            "Bucket names stay the charts' (LAKE_URL) and the install steps' (<log bucket>)"
        ),
        fields=(
            FieldRef("ConfigMap", "*-code-location-env", ("data", "AWS_ENDPOINT_URL")),
            FieldRef("Secret", "*", ("data", "AWS_ACCESS_KEY_ID")),
            FieldRef("Secret", "*", ("data", "AWS_SECRET_ACCESS_KEY")),
            *(
                FieldRef("Deployment", name, _container_env(container, key))
                for name, container in ((WEBSERVER, "webserver"), (DAEMON, "daemon"))
                for key in ("AWS_ENDPOINT_URL", *keys)
            ),
        ),
        apply=apply,
    )


def _container_env(container: str, variable: str) -> FieldPath:
    return ("spec", "template", "spec", "containers", Named(container), "env", Named(variable))


def _code_server_ports(ep: Endpoints) -> Override:
    def apply(r: RenderedDeployment) -> None:
        locations = _code_locations(r)
        unknown = set(locations) ^ set(ep.code_server_ports)
        if unknown:
            raise ValueError(
                f"code_server_ports must name exactly the locations {sorted(locations)}"
            )
        if len(set(ep.code_server_ports.values())) != len(ep.code_server_ports):
            raise ValueError(f"code server ports must be distinct: {dict(ep.code_server_ports)}")
        for location, dep in locations.items():
            port = ep.code_server_ports[location]
            container = _container(dep)
            (grpc,) = [p for p in container["ports"] if p["name"] == "grpc"]
            old = grpc["containerPort"]
            _replace_arg(container["args"], f"--port={old}", f"--port={port}")
            grpc["containerPort"] = port
            _replace_arg(container["readinessProbe"]["exec"]["command"], str(old), str(port))

        def edit(doc: dict) -> None:
            seen = set()
            for entry in doc["load_from"]:
                server = entry["grpc_server"]
                name = server["location_name"]
                if name not in ep.code_server_ports:
                    raise ValueError(f"workspace location {name} has no port in the overrides")
                server["host"] = ep.code_server_host
                server["port"] = ep.code_server_ports[name]
                seen.add(name)
            if seen != set(locations):
                raise ValueError(f"workspace locations {sorted(seen)} != {sorted(locations)}")

        _edit_embedded_yaml(r.configmap(WORKSPACE_CONFIGMAP), "workspace.yaml", edit)

    server = ("spec", "template", "spec", "containers", Named("code-server"))
    workspace = ("data", Embedded("workspace.yaml"), "load_from")
    return Override(
        what=(
            "each code server listens on its own port (--port, containerPort, readiness "
            "probe), and the workspace reaches it at 127.0.0.1:<port>"
        ),
        why=(
            "pods share the host network: no pod IPs, no Service DNS, and two code servers "
            "cannot both listen on 3030"
        ),
        fields=(
            FieldRef("Deployment", "*-code-location", (*server, "args")),
            FieldRef(
                "Deployment", "*-code-location", (*server, "ports", Named("grpc"), "containerPort")
            ),
            FieldRef(
                "Deployment", "*-code-location", (*server, "readinessProbe", "exec", "command")
            ),
            *(
                FieldRef("ConfigMap", WORKSPACE_CONFIGMAP, (*workspace, ANY, "grpc_server", key))
                for key in ("host", "port")
            ),
        ),
        apply=apply,
    )


def _webserver_port(ep: Endpoints) -> Override:
    def apply(r: RenderedDeployment) -> None:
        container = _container(r.deployment(WEBSERVER), "webserver")
        args = container["args"]
        i = args.index("-p")
        args[i + 1] = str(ep.webserver_port)
        (http,) = [p for p in container["ports"] if p["name"] == "http"]
        http["containerPort"] = ep.webserver_port

    server = ("spec", "template", "spec", "containers", Named("webserver"))
    return Override(
        what="the webserver listens on a free port (-p, containerPort)",
        why="pods share the host network, where port 3000 may be taken",
        fields=(
            FieldRef("Deployment", WEBSERVER, (*server, "args")),
            FieldRef("Deployment", WEBSERVER, (*server, "ports", Named("http"), "containerPort")),
        ),
        apply=apply,
    )


def _step_job_ttl(seconds: int) -> Override:
    def apply(r: RenderedDeployment) -> None:
        for location, dep in _code_locations(r).items():
            data = r.configmap(_env_configmap(dep)).setdefault("data", {})
            if "K8S_JOB_TTL_SECONDS" in data:
                raise ValueError(f"location {location} already sets K8S_JOB_TTL_SECONDS")
            data["K8S_JOB_TTL_SECONDS"] = str(seconds)

    return Override(
        what=f"finished step Jobs are deleted after {seconds} s (K8S_JOB_TTL_SECONDS)",
        why="production waits 600 s; the rehearsal checks that they go, within its time",
        fields=(FieldRef("ConfigMap", "*-code-location-env", ("data", "K8S_JOB_TTL_SECONDS")),),
        apply=apply,
    )


RUN_JOB_TTL = ("run_launcher", "config", "run_k8s_config", "job_spec_config")


def _run_job_ttl(seconds: int) -> Override:
    def apply(r: RenderedDeployment) -> None:
        def edit(doc: dict) -> None:
            _dig(doc, RUN_JOB_TTL)["ttl_seconds_after_finished"] = seconds

        _edit_embedded_yaml(r.configmap(INSTANCE_CONFIGMAP), "dagster.yaml", edit)

    return Override(
        what=f"finished run Jobs are deleted after {seconds} s (instance config)",
        why="production waits 600 s; the rehearsal checks that they go, within its time",
        fields=(
            FieldRef(
                "ConfigMap",
                INSTANCE_CONFIGMAP,
                ("data", Embedded("dagster.yaml"), *RUN_JOB_TTL, "ttl_seconds_after_finished"),
            ),
        ),
        apply=apply,
    )


def _run_monitoring_poll(seconds: int) -> Override:
    def apply(r: RenderedDeployment) -> None:
        def edit(doc: dict) -> None:
            _dig(doc, ("run_monitoring",))["poll_interval_seconds"] = seconds

        _edit_embedded_yaml(r.configmap(INSTANCE_CONFIGMAP), "dagster.yaml", edit)

    return Override(
        what=(
            f"the daemon checks run workers every {seconds} s "
            "(run_monitoring.poll_interval_seconds)"
        ),
        why="production polls every 60 s; the rehearsal waits for run monitoring's verdicts",
        fields=(
            FieldRef(
                "ConfigMap",
                INSTANCE_CONFIGMAP,
                ("data", Embedded("dagster.yaml"), "run_monitoring", "poll_interval_seconds"),
            ),
        ),
        apply=apply,
    )


SCHEDULE_ENV = {"rt": "RT_SCHEDULE_CRON", "lake": "LAKE_SCHEDULE_CRON"}


def _schedule_cron(location: str, cron: str) -> Override:
    env = SCHEDULE_ENV[location]

    def apply(r: RenderedDeployment) -> None:
        dep = _code_locations(r)[location]
        data = r.configmap(_env_configmap(dep)).setdefault("data", {})
        if env in data:
            raise ValueError(f"location {location} already sets {env}")
        data[env] = cron

    return Override(
        what=f"the {location} schedule runs on `{cron}` ({env})",
        why="production's schedule is daily/monthly; the rehearsal waits for one tick",
        fields=(FieldRef("ConfigMap", f"{location}-code-location-env", ("data", env)),),
        apply=apply,
    )


# --------------------------------------------------------------------------- apply, diff, describe


def apply_overrides(rendered: RenderedDeployment, items: list[Override]) -> RenderedDeployment:
    """A copy of ``rendered`` with ``items`` applied (``rendered`` is left as it was)."""
    out = rendered.copy()
    for item in items:
        item.apply(out)
    return out


def _normalise(value, path: FieldPath = ()) -> dict[FieldPath, object]:
    """Leaf values by path; named-item lists keyed by name, embedded YAML opened up."""
    leaves: dict[FieldPath, object] = {}
    if isinstance(value, dict):
        if not value:
            leaves[path] = {}
        for key, item in value.items():
            if path[-1:] == ("data",) and isinstance(item, str) and key.endswith((".yaml", ".yml")):
                leaves.update(_normalise(yaml.safe_load(item), (*path, Embedded(key))))
            else:
                leaves.update(_normalise(item, (*path, key)))
    elif isinstance(value, list):
        names = [i.get("name") for i in value if isinstance(i, dict)]
        if (
            value
            and len(names) == len(value)
            and None not in names
            and len(set(names)) == len(names)
        ):
            for item in value:
                leaves.update(_normalise(item, (*path, Named(item["name"]))))
        else:
            if not value:
                leaves[path] = []
            for i, item in enumerate(value):
                leaves.update(_normalise(item, (*path, i)))
    else:
        leaves[path] = value
    return leaves


def _objects(rendered: RenderedDeployment) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rendered.objects}


def changed_fields(
    before: RenderedDeployment, after: RenderedDeployment
) -> Iterator[tuple[str, str, FieldPath]]:
    """(kind, name, path) of every difference; path () for an added or removed object."""
    old, new = _objects(before), _objects(after)
    for key in sorted(old.keys() | new.keys()):
        if key not in old or key not in new:
            yield (*key, ())
            continue
        a, b = _normalise(old[key]), _normalise(new[key])
        for path in sorted(a.keys() | b.keys(), key=format_path):
            if a.get(path, _MISSING) != b.get(path, _MISSING):
                yield (*key, path)


_MISSING = object()


def unexplained_changes(
    before: RenderedDeployment, after: RenderedDeployment, items: list[Override]
) -> list[str]:
    """Changes no override declares (empty: the overrides did only what they say)."""
    allowed = [ref for item in items for ref in item.fields]
    return [
        f"{kind}/{name} {format_path(path) or '(whole object)'}"
        for kind, name, path in changed_fields(before, after)
        if not any(ref.matches(kind, name, path) for ref in allowed)
    ]


def unused_fields(
    before: RenderedDeployment, after: RenderedDeployment, items: list[Override]
) -> list[str]:
    """Declared fields that nothing changed (a stale declaration, or an override that
    silently did nothing)."""
    changes = list(changed_fields(before, after))
    return [
        f"{item.what}: {ref}"
        for item in items
        for ref in item.fields
        if not any(ref.matches(kind, name, path) for kind, name, path in changes)
    ]


def describe(items: list[Override]) -> str:
    """The overrides as a Markdown table (what, why, fields)."""
    rows = ["| what | why | fields |", "|---|---|---|"]
    for item in items:
        fields = "<br>".join(f"`{ref}`" for ref in item.fields)
        rows.append(f"| {_cell(item.what)} | {_cell(item.why)} | {fields} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
