"""Every environment variable the product reads, and the one place that reads them.

``SETTINGS`` lists each variable: its name, type, default, meaning and when it is
read. Nothing is read when this module is imported; each accessor reads the
environment when called. When that is depends on the caller, and ``read`` says it:

- ``code-server start``: called while a code location's definitions load (schedule
  crons, freshness deadlines, the k8s sizes baked into op tags, the executor, the
  partitions). A code server keeps what it read: changing one means a restart.
- ``per run``: when a step runs, in the run's (or step pod's) process.
- ``per tick``: at each evaluation of a sensor.
- ``per call``: each time the function is called (an alert sent, a command started).

A value that does not parse is a ``ValueError`` naming the variable. Unset or empty
takes the default (``COVID_SOURCE_LAST_DATE`` alone gives empty a meaning of its own).
docs/configuration.md lists the same settings; tests/resources/
test_settings_single_reader.py keeps the two, and the rest of the code, honest.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CODE_SERVER_START = "code-server start"
PER_RUN = "per run"
PER_TICK = "per tick"
PER_CALL = "per call"
READ_TIMES = (CODE_SERVER_START, PER_RUN, PER_TICK, PER_CALL)

DEFAULT_LAKE_DIR = ".lake"
DEFAULT_DAGSTER_HOME_DIR = ".dagster"
DEFAULT_UI_URL = "http://127.0.0.1:3000"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
OPEN_ENDED = "open"
ALERT_MODES = ("slack", "webhook", "log")


# Parsers: take the stripped, non-empty text; raise ValueError("must be ...").


def text(raw: str) -> str:
    return raw


def lower_text(raw: str) -> str:
    return raw.lower()


def positive_number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def integer_at_least(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be an integer") from None
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return value

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise ValueError(f"must be one of {choices}")
        return value

    return parse


def cron(raw: str) -> str:
    from resources.dagster_private import is_valid_cron_string

    if not is_valid_cron_string(raw):
        raise ValueError("must be a cron string such as '0 6 * * *'")
    return raw


# A Kubernetes resource quantity: a number with an optional SI, binary or exponent suffix.
_QUANTITY = re.compile(
    r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
)


def quantity(raw: str) -> str:
    if not _QUANTITY.match(raw):
        raise ValueError("must be a Kubernetes quantity such as '500m', '2', '512Mi' or '4Gi'")
    return raw


def whole_seconds(raw: str) -> str:
    """A positive whole number of seconds, kept as text like the other step sizes."""
    return str(integer_at_least(1)(raw))


def date_or_open(raw: str) -> str | None:
    if not raw or raw.lower() == OPEN_ENDED:
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ValueError(
            f"must be a date YYYY-MM-DD, empty or {OPEN_ENDED!r} (a live source)"
        ) from None


@dataclass(frozen=True)
class Setting[T]:
    """One environment variable: ``default`` is its value when unset (or empty)."""

    name: str
    type: str
    default: T
    meaning: str
    read: tuple[str, ...]
    parse: Callable[[str], T]
    empty_is_unset: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.read) - set(READ_TIMES)
        if unknown or not self.read:
            raise ValueError(f"{self.name}: read must be among {READ_TIMES}, got {self.read}")


def get[T](setting: Setting[T]) -> T:
    """The setting's value now: parsed from the environment, else its default."""
    raw = os.environ.get(setting.name)
    if raw is None or (setting.empty_is_unset and not raw.strip()):
        return setting.default
    try:
        return setting.parse(raw.strip())
    except ValueError as exc:
        raise ValueError(f"{setting.name} {exc}, got {raw!r}") from None


# --- The switch and the stores ---

DAGSTER_DEPLOYMENT = Setting(
    "DAGSTER_DEPLOYMENT", "local | production", "local",
    "local: embedded defaults; production: k8s executor, and the stores checked at load",
    (CODE_SERVER_START,), one_of("local", "production"),
)  # fmt: skip
LOCAL_STEP_START = Setting(
    "LOCAL_STEP_START", "in_process | spawn | forkserver", "in_process",
    "how a local run executes its steps: a process each (spawned or forked), or in the run's own",
    (CODE_SERVER_START,), one_of("spawn", "forkserver", "in_process"),
)  # fmt: skip
LAKE_URL = Setting(
    "LAKE_URL", "path or URL", "",
    "base of the lake (a path, file:// or s3://bucket/prefix); empty: ./.lake",
    (CODE_SERVER_START, PER_RUN, PER_TICK), text,
)  # fmt: skip
WAREHOUSE_URL = Setting(
    "WAREHOUSE_URL", "SQLAlchemy URL", "",
    "the warehouse; empty: SQLite inside the local lake",
    (CODE_SERVER_START, PER_RUN), text,
)  # fmt: skip
DAGSTER_HOME = Setting(
    "DAGSTER_HOME", "path", "",
    "where the commands record their runs (the Dagster instance); empty: ./.dagster",
    (PER_CALL,), text,
)  # fmt: skip
DAGSTER_UI_URL = Setting(
    "DAGSTER_UI_URL", "URL", DEFAULT_UI_URL,
    "the webserver's address as people open it: base of alert links, rerun's --url",
    (PER_CALL,), text,
)  # fmt: skip

# --- The rt pipeline ---

COVID_SOURCE = Setting(
    "COVID_SOURCE", "path or URL", "",
    "the source of rt/raw_counts; empty: the bundled archive",
    (PER_RUN,), text,
)  # fmt: skip
COVID_SOURCE_LAST_DATE = Setting(
    "COVID_SOURCE_LAST_DATE", "YYYY-MM-DD | empty | open", None,
    "last day of data the source covers; unset: the bundled archive's; empty/open: live",
    (CODE_SERVER_START,), date_or_open, empty_is_unset=False,
)  # fmt: skip
# The rt_sampler resource's defaults (rt_assets/assets.py: RtSampler), built with the
# definitions of the process that runs the step; `python -m rt_assets.daily` reads the
# preset too.
RT_SAMPLER_PRESET = Setting(
    "RT_SAMPLER_PRESET", "preset name", "fast",
    "sampler preset of rt/inference: fast, full, rtlive or tiny",
    (PER_RUN, PER_CALL), text,
)  # fmt: skip
RT_SAMPLER_CORES = Setting(
    "RT_SAMPLER_CORES", "int >= 0", 0,
    "threads one fit uses for its chains; 0: one per chain, in the daily run's workers their "
    "share of the CPUs (the result is the same)",
    (PER_RUN,), integer_at_least(0),
)  # fmt: skip
RT_SITE_DIST = Setting(
    "RT_SITE_DIST", "path", "",
    "the built front end of rt/site; empty: site/dist of the checkout",
    (PER_RUN,), text,
)  # fmt: skip
RT_DAILY_STATES = Setting(
    "RT_DAILY_STATES", "state codes | all", "all",
    "the states rt_daily_fanout estimates: a comma list of codes, or all",
    (PER_TICK,), text,
)  # fmt: skip
RT_SCHEDULE_CRON = Setting(
    "RT_SCHEDULE_CRON", "cron (UTC)", "0 6 * * *",
    "when the rt_daily schedule runs the day's counts",
    (CODE_SERVER_START,), cron,
)  # fmt: skip
RT_FRESHNESS_DEADLINE_CRON = Setting(
    "RT_FRESHNESS_DEADLINE_CRON", "cron (UTC)", "0 9 * * *",
    "by when the published files must hold the newest run date",
    (CODE_SERVER_START,), cron,
)  # fmt: skip

# --- The lake ---

LAKE_SCHEDULE_CRON = Setting(
    "LAKE_SCHEDULE_CRON", "cron (UTC)", "0 7 2 * *",
    "when the lake_monthly schedule refreshes the year of the newest landed file",
    (CODE_SERVER_START,), cron,
)  # fmt: skip
LAKE_FRESHNESS_DAYS = Setting(
    "LAKE_FRESHNESS_DAYS", "number > 0", 35.0,
    "lake/warehouse_delay_table must have been updated within this many days",
    (CODE_SERVER_START,), positive_number,
)  # fmt: skip

# --- Alerts (read each time an alert is sent; an AlertsResource field overrides each) ---

ALERT_MODE = Setting(
    "ALERT_MODE", "slack | webhook | log", "",
    "force where alerts go; empty: slack with a token, else webhook with a URL, else log",
    (PER_CALL,), one_of(*ALERT_MODES),
)  # fmt: skip
SLACK_TOKEN = Setting(
    "SLACK_TOKEN", "secret", "", "Slack bot token (chat.postMessage)", (PER_CALL,), text
)
SLACK_CHANNEL = Setting(
    "SLACK_CHANNEL", "text", "", "Slack channel the alerts go to", (PER_CALL,), text
)
SLACK_API_URL = Setting(
    "SLACK_API_URL", "URL", DEFAULT_SLACK_API_URL,
    "Slack API base URL (tests point it at a local server)",
    (PER_CALL,), text,
)  # fmt: skip
ALERT_WEBHOOK_URL = Setting(
    "ALERT_WEBHOOK_URL", "URL", "",
    "without a Slack token: POST each alert as JSON to this URL",
    (PER_CALL,), text,
)  # fmt: skip

# --- Kubernetes steps (production) ---

RT_MAX_INFERENCE_PODS = Setting(
    "RT_MAX_INFERENCE_PODS", "int >= 1", 25,
    "at most this many inference (heavy) step pods per run (rt.live ran 25)",
    (CODE_SERVER_START,), integer_at_least(1),
)  # fmt: skip
K8S_MAX_CONCURRENT_STEPS = Setting(
    "K8S_MAX_CONCURRENT_STEPS", "int >= 1", 25,
    "at most this many step pods per run",
    (CODE_SERVER_START,), integer_at_least(1),
)  # fmt: skip
K8S_JOB_TTL_SECONDS = Setting(
    "K8S_JOB_TTL_SECONDS", "int >= 0", 600,
    "finished step Jobs (pods, logs) are deleted this long after they end",
    (CODE_SERVER_START,), integer_at_least(0),
)  # fmt: skip

# Step sizes, K8S_<KIND>_<SETTING>; resources/k8s.py bakes them into op tags, so they are
# fixed at code-server start. Heavy (rt/inference): nutpie samples 4 chains in 4 threads
# (full preset), so 4 CPUs; memory: the largest measured peak + 128 MiB for the step
# worker, request 1.5x and limit 2x that, rounded up to 256 Mi (the peaks:
# benchmarks/results/2026-12-02-compile-cache.md; the arithmetic: docs/production.md,
# "Sizing the high-memory pool"). A heavy step running past 2 h is stuck, not slow:
# rt.live's slowest states finished well under an hour. Light: downloads, corrections and
# summaries; the lake location raises its light memory for the steps that read a whole
# year (helm/values/lake.yaml).
K8S_STEP_DEFAULTS: dict[str, dict[str, str]] = {
    "heavy": {
        "cpu_request": "4",
        "cpu_limit": "4",
        "memory_request": "1792Mi",
        "memory_limit": "2560Mi",
        "ephemeral_request": "1Gi",
        "ephemeral_limit": "4Gi",
        "pool": "high-memory",
        "active_deadline_s": "7200",
    },
    "light": {
        "cpu_request": "250m",
        "cpu_limit": "1",
        "memory_request": "512Mi",
        "memory_limit": "2Gi",
        "ephemeral_request": "256Mi",
        "ephemeral_limit": "2Gi",
        "pool": "",  # empty: the default pool, no selector, no toleration
        "active_deadline_s": "3600",
    },
}
_STEP_WHO = {"heavy": "a heavy step (rt/inference)", "light": "a light step (every other)"}
_QUANTITY_TYPE = "Kubernetes quantity"
_STEP_WHAT = {
    "cpu_request": ("CPU request of", _QUANTITY_TYPE, quantity),
    "cpu_limit": ("CPU limit of", _QUANTITY_TYPE, quantity),
    "memory_request": ("memory request of", _QUANTITY_TYPE, quantity),
    "memory_limit": ("memory limit of", _QUANTITY_TYPE, quantity),
    "ephemeral_request": ("ephemeral-storage request of", _QUANTITY_TYPE, quantity),
    "ephemeral_limit": ("ephemeral-storage limit (and /tmp size) of", _QUANTITY_TYPE, quantity),
    "pool": ("node pool (label and taint rt-lake/pool; empty: default) of", "label value", text),
    "active_deadline_s": ("seconds before Kubernetes stops", "int >= 1", whole_seconds),
}
K8S_STEP: dict[str, dict[str, Setting[str]]] = {
    kind: {
        name: Setting(
            f"K8S_{kind.upper()}_{name.upper()}",
            _STEP_WHAT[name][1],
            default,
            f"{_STEP_WHAT[name][0]} {_STEP_WHO[kind]}",
            (CODE_SERVER_START,),
            _STEP_WHAT[name][2],
        )
        for name, default in defaults.items()
    }
    for kind, defaults in K8S_STEP_DEFAULTS.items()
}

SETTINGS: tuple[Setting[Any], ...] = (
    DAGSTER_DEPLOYMENT, LOCAL_STEP_START, LAKE_URL, WAREHOUSE_URL, DAGSTER_HOME, DAGSTER_UI_URL,
    COVID_SOURCE, COVID_SOURCE_LAST_DATE, RT_SAMPLER_PRESET, RT_SAMPLER_CORES, RT_SITE_DIST,
    RT_DAILY_STATES, RT_SCHEDULE_CRON, RT_FRESHNESS_DEADLINE_CRON,
    LAKE_SCHEDULE_CRON, LAKE_FRESHNESS_DAYS,
    ALERT_MODE, SLACK_TOKEN, SLACK_CHANNEL, SLACK_API_URL, ALERT_WEBHOOK_URL,
    RT_MAX_INFERENCE_PODS, K8S_MAX_CONCURRENT_STEPS, K8S_JOB_TTL_SECONDS,
    *(setting for kind in K8S_STEP.values() for setting in kind.values()),
)  # fmt: skip


# --- Accessors ---


def configured_lake_url() -> str:
    """`LAKE_URL` as set (without a trailing slash), or empty when it is not set."""
    return get(LAKE_URL).rstrip("/")


def lake_url() -> str:
    """Base URL of the lake: `LAKE_URL`, or an absolute path to `./.lake`."""
    return configured_lake_url() or str(Path.cwd() / DEFAULT_LAKE_DIR)


def configured_warehouse_url() -> str:
    """`WAREHOUSE_URL` as set, or empty when it is not set."""
    return get(WAREHOUSE_URL)


def is_local_lake(url: str | None = None) -> bool:
    url = url if url is not None else lake_url()
    return "://" not in url or url.startswith("file://")


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse: `WAREHOUSE_URL`, or SQLite inside the local lake."""
    url = configured_warehouse_url()
    if url:
        return url
    base = lake_url()
    folder = Path(base) if is_local_lake(base) else Path.cwd() / DEFAULT_LAKE_DIR
    folder = Path(str(folder).removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'warehouse.sqlite'}"


def dagster_home() -> Path:
    """`DAGSTER_HOME` as an absolute path, default `./.dagster`."""
    return Path(get(DAGSTER_HOME) or Path.cwd() / DEFAULT_DAGSTER_HOME_DIR).resolve()


def export_dagster_home(home: Path) -> None:
    """Sets `DAGSTER_HOME` in this process, so that the Dagster instance of a command
    and the worker processes it starts find the same run storage."""
    os.environ[DAGSTER_HOME.name] = str(home)


def dagster_ui_url() -> str:
    """`DAGSTER_UI_URL`: where people open the Dagster webserver (alert links, the re-run
    command's default), without a trailing slash; default `http://127.0.0.1:3000`, the
    address of `dagster dev`."""
    return get(DAGSTER_UI_URL).rstrip("/")


def deployment() -> str:
    """`local` (embedded defaults) or `production` (k8s executor, S3, Postgres)."""
    return get(DAGSTER_DEPLOYMENT)


def daily_states(known: list[str]) -> list[str]:
    """The states the daily fan-out estimates: `RT_DAILY_STATES` (a comma list of
    codes, or `all`, the default), checked against ``known``, in ``known``'s order."""
    raw = get(RT_DAILY_STATES)
    if raw.lower() == "all":
        return list(known)
    wanted = {code.strip().upper() for code in raw.split(",") if code.strip()}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(f"RT_DAILY_STATES names unknown state codes {unknown}")
    return [code for code in known if code in wanted]


def covid_source_last_date(default: str) -> str | None:
    """The last day of data the COVID source covers: `COVID_SOURCE_LAST_DATE`.

    Unset: ``default`` (the bundled archive's last date). A ``YYYY-MM-DD`` date: that
    day. Empty or ``open``: ``None``, a live source whose data reach yesterday, so the
    run dates are open ended up to today.
    """
    if COVID_SOURCE_LAST_DATE.name not in os.environ:
        return default
    return get(COVID_SOURCE_LAST_DATE)


def covid_source() -> str:
    """`COVID_SOURCE` (a path or URL), or empty for the bundled archive."""
    return get(COVID_SOURCE)


def site_dist() -> str:
    """`RT_SITE_DIST`, or empty for the checkout's `site/dist`."""
    return get(RT_SITE_DIST)


def rt_schedule_cron() -> str:
    return get(RT_SCHEDULE_CRON)


def rt_freshness_deadline_cron() -> str:
    return get(RT_FRESHNESS_DEADLINE_CRON)


def lake_schedule_cron() -> str:
    return get(LAKE_SCHEDULE_CRON)


def lake_freshness_days() -> float:
    return get(LAKE_FRESHNESS_DAYS)


def k8s_step_setting(kind: str, name: str) -> str:
    """One size of a step kind (``heavy`` or ``light``): `K8S_<KIND>_<NAME>` or its default."""
    return get(K8S_STEP[kind][name])


# The sampler preset's accessors (the model restructuring; rt_assets.assets.RtSampler's
# defaults, and the commands'). The names stay importable for the benchmarks.
SAMPLER_PRESET_ENV = RT_SAMPLER_PRESET.name
SAMPLER_CORES_ENV = RT_SAMPLER_CORES.name


def sampler_preset_name() -> str:
    """`RT_SAMPLER_PRESET`: the default sampler preset of `rt/inference`; checked where used."""
    return get(RT_SAMPLER_PRESET)


def sampler_cores() -> int:
    """`RT_SAMPLER_CORES`: threads one fit may use for its chains; 0 is the default rule
    (one per chain; in the daily run's workers, their share of the CPUs)."""
    return get(RT_SAMPLER_CORES)
