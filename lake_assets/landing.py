"""Pure logic of the landing sensor: which landed files start a run, which are ignored.

A file in ``<LAKE_URL>/landing/`` whose name carries a year (``2013.csv``,
``On_Time_2014.csv.gz``, ``flights_2015.parquet``) and whose year is a lake
partition starts the bronze -> warehouse chain for that year; it does so once
per version of the file: the cursor keeps each file's fingerprint (ETag, or
size + modification time), so a re-uploaded file with new content runs again
and an unchanged one never does. Everything else is ignored, once, with a
reason that the sensor logs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

YEAR = re.compile(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)")
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart")


@dataclass(frozen=True)
class LandedFile:
    name: str
    fingerprint: str


@dataclass(frozen=True)
class LandingRun:
    year: str
    file: LandedFile

    @property
    def run_key(self) -> str:
        return f"landing:{self.file.name}@{self.file.fingerprint}"


@dataclass(frozen=True)
class LandingPlan:
    runs: list[LandingRun]
    ignored: list[tuple[str, str]]  # (file name, why)
    seen: dict[str, str]  # file name -> fingerprint, the next cursor


def fingerprint(info: dict) -> str:
    """A version id from an fsspec ``ls(detail=True)`` entry: ETag, else size + mtime."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag).strip('"')
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return f"{info.get('size', '?')}-{mtime}"


def plan_landing(
    files: list[LandedFile], seen: dict[str, str], known_years: set[str] | None
) -> LandingPlan:
    """Runs for new or changed files; ``known_years`` None means any year is a partition."""
    runs, ignored, new_seen = [], [], dict(seen)
    for file in sorted(files, key=lambda f: f.name):
        if seen.get(file.name) == file.fingerprint:
            continue  # processed (or ignored) already in this version
        base = file.name.rsplit("/", 1)[-1]
        if base.startswith(".") or base.endswith(TEMPORARY_SUFFIXES):
            # Still being written: don't remember it, so the finished file is seen.
            ignored.append((file.name, "hidden or temporary file (upload in progress?)"))
            continue
        new_seen[file.name] = file.fingerprint
        years = set(YEAR.findall(base))
        if len(years) != 1:
            why = "no year in the file name" if not years else f"several years {sorted(years)}"
            ignored.append((file.name, why + "; expected a name like 2013.csv"))
            continue
        (year,) = years
        if known_years is not None and year not in known_years:
            ignored.append((file.name, f"year {year} is not a lake partition"))
            continue
        runs.append(LandingRun(year, file))
    return LandingPlan(runs, ignored, new_seen)


def load_cursor(cursor: str | None) -> dict[str, str]:
    return json.loads(cursor) if cursor else {}


def dump_cursor(seen: dict[str, str]) -> str:
    return json.dumps(seen, sort_keys=True)
