"""resources/settings.py is the one reader of the environment, docs/configuration.md lists
exactly what it defines, and a bad value is an error naming its variable."""

import ast
import re
from pathlib import Path

import pytest

from resources import settings
from resources.alerts import AlertsResource
from resources.deployment import k8s_executor_config
from resources.k8s import HEAVY, K8S_CONFIG_TAG, step_tags

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rt_assets", "lake_assets", "resources")
READER = "resources/settings.py"
DOCS = ROOT / "docs" / "configuration.md"
# os.environ, os.getenv and the rest of os's ways into the process environment.
ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
SETTINGS_HEADER = "| variable | type | default | what it does | read |"
OTHERS_HEADER = "| variable | read by | what it does |"
# Still read where they were: moved by the model restructuring (the sampler preset becomes
# the rt_sampler resource, whose defaults settings.py reads), which removes this exemption.
EXEMPT = {
    ("rt_assets/model.py", "PRESET_ENV"),
    ("rt_assets/model.py", "CORES_ENV"),
    ("rt_assets/daily.py", "PRESET_ENV"),
}


def environment_uses(source: str) -> list[int]:
    """Lines of ``source`` that touch the process environment through ``os``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_NAMES
            or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(alias.name in ENVIRONMENT_NAMES | {"*"} for alias in node.names)
            )
        ):
            lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.environ.get('X')",
        "import os\nos.environ['X']",
        "import os\nos.environ['X'] = '1'",
        "import os\n'X' in os.environ",
        "import os\nos.getenv('X', '')",
        "import os as o\no.environ.copy()",
        "from os import environ\nenviron.get('X')",
        "from os import getenv",
        "from os import *",
    ],
)
def test_the_finder_sees_each_way_into_the_environment(source):
    assert environment_uses(source)


def test_the_finder_leaves_other_uses_of_os_alone():
    assert environment_uses("import os\nos.path.join('a', 'b')\nos.cpu_count()") == []


def test_only_settings_reads_the_environment():
    modules = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert any(path.relative_to(ROOT).as_posix() == READER for path in modules)
    found = []
    for path in modules:
        name = path.relative_to(ROOT).as_posix()
        if name == READER:
            continue
        source = path.read_text()
        for line in environment_uses(source):
            text = source.splitlines()[line - 1].strip()
            if not any(name == module and constant in text for module, constant in EXEMPT):
                found.append(f"{name}:{line}: {text}")
    assert found == [], "read the environment through resources/settings.py"


def _unescape(cell: str) -> str:
    return cell.replace("\\|", "|").strip()


def docs_tables(header: str) -> list[list[str]]:
    """The rows (cells, ``\\|`` unescaped) of every table of docs/configuration.md
    under ``header``."""
    rows, inside = [], False
    for line in DOCS.read_text().splitlines():
        if line.strip() == header:
            inside = True
        elif inside and line.startswith("|"):
            if not line.startswith("|---"):
                rows.append([_unescape(c) for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        else:
            inside = False
    return rows


def documented_settings() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for cells in docs_tables(SETTINGS_HEADER):
        name = cells[0].strip("`")
        assert name not in rows, f"{name} is documented twice"
        rows[name] = cells
    return rows


def shown(default) -> str:
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_docs_list_every_setting_with_its_type_default_and_read_time():
    rows = documented_settings()
    for setting in settings.SETTINGS:
        assert setting.name in rows, f"{setting.name} is missing in docs/configuration.md"
        _, type_, default, _, read = rows[setting.name]
        assert type_ == setting.type, setting.name
        if setting.default not in ("", None):
            assert f"`{shown(setting.default)}`" in default, setting.name
        times = {time for time in settings.READ_TIMES if time in read}
        assert times == set(setting.read), (setting.name, read)


def test_the_docs_list_no_variable_settings_does_not_define():
    defined = {setting.name for setting in settings.SETTINGS}
    assert set(documented_settings()) - defined == set()
    # Every other variable the page names is one Dagster or the S3 client reads.
    others = {
        name
        for cells in docs_tables(OTHERS_HEADER)
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
    }
    assert others and others.isdisjoint(defined)
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})(?:=[^`]*)?`", DOCS.read_text()))
    assert named - defined - others == set()


def test_the_registry_names_each_variable_once_and_its_defaults_parse():
    names = [setting.name for setting in settings.SETTINGS]
    assert len(names) == len(set(names))
    for setting in settings.SETTINGS:
        if setting.default not in ("", None):
            assert setting.parse(shown(setting.default)) == setting.default, setting.name


def test_unset_and_empty_take_the_default(monkeypatch):
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
        assert settings.get(setting) == setting.default, setting.name
        if setting.empty_is_unset:
            monkeypatch.setenv(setting.name, "  ")
            assert settings.get(setting) == setting.default, setting.name


@pytest.mark.parametrize(
    "name, value, accessor, message",
    [
        ("LAKE_FRESHNESS_DAYS", "abc", settings.lake_freshness_days, "must be a number"),
        ("LAKE_FRESHNESS_DAYS", "0", settings.lake_freshness_days, "must be > 0"),
        ("RT_SCHEDULE_CRON", "daily at six", settings.rt_schedule_cron, "must be a cron"),
        ("LAKE_SCHEDULE_CRON", "0 7 32 * *", settings.lake_schedule_cron, "must be a cron"),
        ("DAGSTER_DEPLOYMENT", "staging", settings.deployment, "must be one of"),
        ("K8S_JOB_TTL_SECONDS", "-1", k8s_executor_config, "must be >= 0"),
        ("RT_MAX_INFERENCE_PODS", "many", k8s_executor_config, "must be an integer"),
        ("RT_SAMPLER_CORES", "four", settings.sampler_cores, "must be an integer"),
        ("K8S_HEAVY_MEMORY_LIMIT", "12 gigs", lambda: step_tags(HEAVY), "must be a Kubernetes"),
        ("K8S_HEAVY_CPU_REQUEST", "4cores", lambda: step_tags(HEAVY), "must be a Kubernetes"),
        ("K8S_HEAVY_ACTIVE_DEADLINE_S", "2h", lambda: step_tags(HEAVY), "must be an integer"),
        ("ALERT_MODE", "pager", lambda: AlertsResource().resolved_mode(), "must be one of"),
        ("COVID_SOURCE_LAST_DATE", "31/01/2021", lambda: settings.covid_source_last_date(""),
         "must be a date YYYY-MM-DD"),
    ],
)  # fmt: skip
def test_a_bad_value_is_an_error_naming_the_variable(monkeypatch, name, value, accessor, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"^{name} {message}.*, got '{re.escape(value)}'$"):
        accessor()


def test_kubernetes_quantities_in_every_form_are_accepted(monkeypatch):
    for value in ("12Gi", "1536Mi", "250m", "1.5", "2", "1e3", "500M", "0.5Gi"):
        monkeypatch.setenv("K8S_HEAVY_MEMORY_LIMIT", value)
        assert f'"memory": "{value}"' in step_tags(HEAVY)[K8S_CONFIG_TAG]
