"""Pure logic of landed flight files: which file is which piece of which year,
which landed files start a run, which are ignored.

US on-time data arrives one file per month, as BTS publishes it, or as a whole
year. A landed file in ``<LAKE_URL>/landing/`` is a **piece** of a lake year:

- ``2014-03.csv`` / ``2014_3.csv.gz`` (a year and a month): the piece ``2014-03``;
- ``2013.csv`` / ``On_Time_2013.csv.gz`` (a year alone): the whole year, piece ``2013``.

Only CSV (``.csv``, or gzip ``.csv.gz``) is read. A year is stored either as
one whole-year file or as monthly files, never both (``year_pieces`` refuses
the mix, and two files for the same month). The landing sensor starts the
bronze -> warehouse chain once per year with new or changed pieces: the cursor
keeps each file's fingerprint (ETag, or size + modification time), so a
re-uploaded file with new content runs again and an unchanged one never does.
Everything else is ignored, once, with a reason that the sensor logs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass

YEAR_MONTH = re.compile(r"(?<!\d)(?P<year>19[89]\d|20\d\d)(?:[-_](?P<month>\d{1,2}))?(?!\d)")
LANDING = "landing"  # the folder under the lake's base URL where files land
CSV_SUFFIXES = (".csv", ".csv.gz")
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart")
EXPECTED = "expected a name like 2014-03.csv (a month) or 2013.csv (a whole year), or .csv.gz"


@dataclass(frozen=True, order=True)
class Piece:
    """A year, or one month of it: the unit a landed file fills and the lake re-reads."""

    year: str
    month: int | None = None

    @property
    def key(self) -> str:
        """``2014-03`` for a month, ``2013`` for a whole year: the piece's file name stem."""
        return self.year if self.month is None else f"{self.year}-{self.month:02d}"

    @classmethod
    def from_key(cls, key: str) -> Piece:
        year, _, month = key.partition("-")
        return cls(year, int(month) if month else None)


def piece_of(name: str) -> Piece | str:
    """The piece a landed file name stands for, or why it is not one."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if not base.lower().endswith(CSV_SUFFIXES):
        return f"not a CSV file; {EXPECTED}"
    found = {
        (m["year"], int(m["month"]) if m["month"] else None) for m in YEAR_MONTH.finditer(base)
    }
    years = sorted({year for year, _ in found})
    if len(years) != 1:
        why = "no year in the file name" if not years else f"several years {years}"
        return f"{why}; {EXPECTED}"
    if len(found) != 1:
        return f"several months in the file name; {EXPECTED}"
    ((year, month),) = found
    if month is not None and not 1 <= month <= 12:
        return f"month {month} is not 1-12; {EXPECTED}"
    return Piece(year, month)


def is_temporary(name: str) -> bool:
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return base.startswith(".") or base.endswith(TEMPORARY_SUFFIXES)


def months_beside_whole(pieces: list[Piece], year: str) -> list[str]:
    """The monthly pieces of ``year`` when its whole-year piece is there too (a conflict:
    a year is one whole-year file or its months), else none."""
    if Piece(year) not in pieces:
        return []
    return sorted(p.key for p in pieces if p.year == year and p.month is not None)


class LandingConflict(ValueError):
    """Landed files of one year that cannot all be its pieces."""


def year_pieces(names: list[str], year: str) -> dict[Piece, str]:
    """The landed files (names) that fill ``year``, by piece; raises ``LandingConflict``
    for a whole-year file beside monthly ones, or two files for one piece."""
    by_piece: dict[Piece, list[str]] = defaultdict(list)
    for name in sorted(names):
        if is_temporary(name):
            continue
        piece = piece_of(name)
        if isinstance(piece, Piece) and piece.year == year:
            by_piece[piece].append(name)
    doubles = {p.key: files for p, files in by_piece.items() if len(files) > 1}
    if doubles:
        raise LandingConflict(
            f"landing has several files for the same piece of {year}: {doubles}; "
            "keep one per month (or one for the whole year)"
        )
    months = months_beside_whole(list(by_piece), year)
    if months:
        raise LandingConflict(
            f"landing has a whole-year file {by_piece[Piece(year)][0]} and monthly files {months} "
            f"for {year}: keep either the year or its months"
        )
    return {piece: files[0] for piece, files in sorted(by_piece.items())}


@dataclass(frozen=True)
class LandedFile:
    name: str
    fingerprint: str


@dataclass(frozen=True)
class LandingRun:
    """One run of the lake chain for ``year``: the new or changed files that started it."""

    year: str
    files: tuple[LandedFile, ...]

    @property
    def run_key(self) -> str:
        versions = ",".join(f"{f.name}@{f.fingerprint}" for f in self.files)
        if len(self.files) == 1:
            return f"landing:{versions}"
        return f"landing:{self.year}:{hashlib.sha256(versions.encode()).hexdigest()[:16]}"

    @property
    def label(self) -> str:
        """The files, for a run tag: one name, or the first and how many more."""
        first = self.files[0].name
        return first if len(self.files) == 1 else f"{first} +{len(self.files) - 1} more"


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
    """One run per year with new or changed pieces; ``known_years`` None means any year
    is a partition."""
    changed: dict[str, list[LandedFile]] = defaultdict(list)
    ignored, new_seen = [], dict(seen)
    for file in sorted(files, key=lambda f: f.name):
        if seen.get(file.name) == file.fingerprint:
            continue  # processed (or ignored) already in this version
        if is_temporary(file.name):
            # Still being written: don't remember it, so the finished file is seen.
            ignored.append((file.name, "hidden or temporary file (upload in progress?)"))
            continue
        new_seen[file.name] = file.fingerprint
        piece = piece_of(file.name)
        if isinstance(piece, str):
            ignored.append((file.name, piece))
        elif known_years is not None and piece.year not in known_years:
            ignored.append((file.name, f"year {piece.year} is not a lake partition"))
        else:
            changed[piece.year].append(file)
    runs = [LandingRun(year, tuple(changed[year])) for year in sorted(changed)]
    return LandingPlan(runs, ignored, new_seen)


def newest_piece(names: list[str], known_years: set[str] | None = None) -> Piece | None:
    """The latest piece among landed file names (a month sorts after its whole year):
    the year the monthly schedule refreshes."""
    pieces = [p for n in names if not is_temporary(n) and isinstance(p := piece_of(n), Piece)]
    pieces = [p for p in pieces if known_years is None or p.year in known_years]
    return max(pieces, key=lambda p: (p.year, p.month or 0), default=None)


def load_cursor(cursor: str | None) -> dict[str, str]:
    return json.loads(cursor) if cursor else {}


def dump_cursor(seen: dict[str, str]) -> str:
    return json.dumps(seen, sort_keys=True)
