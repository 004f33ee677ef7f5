"""Environment-driven settings, read when called (never at import time).

The defaults are the embedded ones: a local `.lake/` folder in the working
directory and a SQLite warehouse inside it. Production sets `LAKE_URL`
(`s3://bucket/prefix`, with the standard AWS variables, `AWS_ENDPOINT_URL`
included) and `WAREHOUSE_URL` (`postgresql+psycopg://...`).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

DEFAULT_LAKE_DIR = ".lake"
DEFAULT_UI_URL = "http://127.0.0.1:3000"


def configured_lake_url() -> str:
    """`LAKE_URL` as set (without a trailing slash), or empty when it is not set."""
    return os.environ.get("LAKE_URL", "").strip().rstrip("/")


def lake_url() -> str:
    """Base URL of the lake: `LAKE_URL`, or an absolute path to `./.lake`."""
    return configured_lake_url() or str(Path.cwd() / DEFAULT_LAKE_DIR)


def configured_warehouse_url() -> str:
    """`WAREHOUSE_URL` as set, or empty when it is not set."""
    return os.environ.get("WAREHOUSE_URL", "").strip()


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


def dagster_ui_url() -> str:
    """`DAGSTER_UI_URL`: where people open the Dagster webserver (alert links, the re-run
    command's default), without a trailing slash; default `http://127.0.0.1:3000`, the
    address of `dagster dev`."""
    return (os.environ.get("DAGSTER_UI_URL", "").strip() or DEFAULT_UI_URL).rstrip("/")


def deployment() -> str:
    """`local` (embedded defaults) or `production` (k8s executor, S3, Postgres)."""
    value = os.environ.get("DAGSTER_DEPLOYMENT", "local").strip().lower()
    if value not in ("local", "production"):
        raise ValueError(f"DAGSTER_DEPLOYMENT must be 'local' or 'production', got {value!r}")
    return value


def daily_states(known: list[str]) -> list[str]:
    """The states the daily fan-out estimates: `RT_DAILY_STATES` (a comma list of
    codes, or `all`, the default), checked against ``known``, in ``known``'s order."""
    raw = os.environ.get("RT_DAILY_STATES", "").strip()
    if not raw or raw.lower() == "all":
        return list(known)
    wanted = {code.strip().upper() for code in raw.split(",") if code.strip()}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(f"RT_DAILY_STATES names unknown state codes {unknown}")
    return [code for code in known if code in wanted]


COVID_SOURCE_LAST_DATE_ENV = "COVID_SOURCE_LAST_DATE"
OPEN_ENDED = "open"


def covid_source_last_date(default: str) -> str | None:
    """The last day of data the COVID source covers: `COVID_SOURCE_LAST_DATE`.

    Unset: ``default`` (the bundled archive's last date). A ``YYYY-MM-DD`` date: that
    day. Empty or ``open``: ``None``, a live source whose data reach yesterday, so the
    run dates are open ended up to today.
    """
    raw = os.environ.get(COVID_SOURCE_LAST_DATE_ENV)
    if raw is None:
        return default
    value = raw.strip()
    if not value or value.lower() == OPEN_ENDED:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(
            f"{COVID_SOURCE_LAST_DATE_ENV} must be a date YYYY-MM-DD, empty or {OPEN_ENDED!r} "
            f"(a live source), got {raw!r}"
        ) from None


SAMPLER_PRESET_ENV = "RT_SAMPLER_PRESET"
# Threads one fit may use for its chains (default: one per chain). Set to 1 when
# several inference steps share a small machine; it changes nothing in the result.
SAMPLER_CORES_ENV = "RT_SAMPLER_CORES"


def sampler_preset_name() -> str:
    """`RT_SAMPLER_PRESET`: the default sampler preset of `rt/inference`; default `fast`.
    The name is checked where it is used."""
    return os.environ.get(SAMPLER_PRESET_ENV, "").strip() or "fast"


def sampler_cores() -> int:
    """`RT_SAMPLER_CORES`: threads one fit may use for its chains; 0 (unset) is one per chain."""
    raw = os.environ.get(SAMPLER_CORES_ENV, "").strip()
    try:
        cores = int(raw or 0)
    except ValueError:
        raise ValueError(f"{SAMPLER_CORES_ENV} must be a whole number, got {raw!r}") from None
    if cores < 0:
        raise ValueError(f"{SAMPLER_CORES_ENV} must be 0 or more, got {raw!r}")
    return cores
