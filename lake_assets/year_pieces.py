"""A lake year stored piece by piece: bronze, silver and quarantine per landed file.

A year arrives as monthly files (or one whole-year file): ``landing.Piece``.
Bronze keeps each piece as received (``lake/bronze_flights/2014-03.csv``, or
``2013.csv`` for a whole year); silver and the quarantine keep one Parquet
file per bronze piece (``lake/silver_flights/2014-03.parquet``). Beside each
asset's pieces a manifest, ``<asset>/<year>.pieces.json``, records what every
piece was made from (the landing file's fingerprint; the bronze piece's
sha256 and the cleaning code's fingerprint), so a re-run redoes only the
pieces whose input changed: re-landing March redoes March's bronze, silver and
quarantine, and nothing of the other months. Gold and what follows read the
whole year (a daily aggregate per airport, then a detector over the year).

Pure module (no Dagster): the assets call it and turn its errors into failures.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from lake_assets import cleaning, schema
from lake_assets.landing import LANDING, Piece, months_beside_whole
from resources.lake_files import copy_stream, file_digest
from resources.lake_store import LakeStore, atomic_output, is_local, local_path


class ImmutableBronze(ValueError):
    """A landed piece differs from the bronze piece already stored."""


class PieceConflict(ValueError):
    """Pieces of one year that cannot be stored together (a whole year and months)."""


def landed_files(store: LakeStore) -> dict[str, dict]:
    """The files in ``<lake>/landing/`` by name, with their fsspec details (none if absent)."""
    return {
        str(info["name"]).rstrip("/").rsplit("/", 1)[-1]: info
        for info in store.list_files(store.folder(LANDING))
    }


def manifest_path(store: LakeStore, asset_key: Any, year: str) -> UPath:
    return store.path(asset_key, f"{year}.pieces", "json")


def read_manifest(store: LakeStore, asset_key: Any, year: str) -> dict[str, dict]:
    path = manifest_path(store, asset_key, year)
    return json.loads(store.read_bytes(path)) if store.exists(path) else {}


def write_manifest(store: LakeStore, asset_key: Any, year: str, pieces: dict[str, dict]) -> None:
    data = json.dumps(dict(sorted(pieces.items())), indent=1, sort_keys=True).encode()
    store.write_bytes(manifest_path(store, asset_key, year), data, "application/json")


@functools.cache
def cleaning_fingerprint() -> str:
    """sha256 of the cleaning code and the silver schema: a silver piece made by other
    code is made again."""
    files = sorted(Path(cleaning.__file__).parent.glob("*.py")) + [Path(schema.__file__)]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def check_pieces(keys: set[str], year: str) -> None:
    """A year is one whole-year piece or monthly pieces, never both."""
    months = months_beside_whole([Piece.from_key(k) for k in keys], year)
    if months:
        raise PieceConflict(
            f"{year} would hold a whole-year piece and monthly pieces {months}: keep either "
            "the year or its months (delete the other deliberately, in landing and bronze)"
        )


@dataclass(frozen=True)
class BronzeSource:
    """One piece to store: where it comes from and how to open it."""

    piece: Piece
    label: str  # the landing file's path, or the bundled data's name
    fingerprint: str  # version of the source (ETag, size + mtime, or a bundled name)
    open: Callable[[], BinaryIO]  # opens the bytes, gzip already unpacked
    path: UPath | None = None  # the landed file itself, if there is one

    def plain_local(self) -> str | None:
        """The landed file's local path if it is local and not gzip: the store may copy
        it natively. Asked only when the piece is copied (reads two bytes)."""
        if self.path is None or not is_local(self.path) or LakeStore.is_gzip(self.path):
            return None
        return local_path(self.path)


@dataclass
class BronzeOutcome:
    pieces: dict[str, dict]  # the year's manifest after this run
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def store_bronze(
    store: LakeStore,
    asset_key: Any,
    year: str,
    sources: list[BronzeSource],
    log: Callable[[str], None] = lambda _msg: None,
) -> BronzeOutcome:
    """Store each source as its bronze piece, once: a piece whose source fingerprint is
    recorded and whose file is there is left alone; a stored piece is never changed
    (``ImmutableBronze``); a new piece is written atomically."""
    manifest = read_manifest(store, asset_key, year)
    check_pieces(set(manifest) | {s.piece.key for s in sources}, year)
    outcome = BronzeOutcome(manifest)
    for source in sources:
        key = source.piece.key
        stored = store.path(asset_key, key, "raw_csv")
        record = manifest.get(key)
        if record and record.get("fingerprint") == source.fingerprint and store.exists(stored):
            outcome.unchanged.append(key)
            continue
        if store.exists(stored):
            with source.open() as fh:
                stats = copy_stream(fh)
            recorded = (record or {}).get("sha256") or file_digest(stored).sha256
            if recorded != stats.sha256:
                raise ImmutableBronze(
                    f"bronze is immutable: {stored} exists with different content than "
                    f"{source.label}; delete it deliberately to replace the "
                    + ("year" if source.piece.month is None else "month")
                )
            outcome.unchanged.append(key)
        elif store.is_local and (plain := source.plain_local()) is not None:
            stats = store.write_local_file(plain, stored)
            outcome.copied.append(key)
        else:
            with source.open() as fh:
                stats = store.write_stream(fh, stored)
            outcome.copied.append(key)
        manifest[key] = {
            "source": source.label,
            "fingerprint": source.fingerprint,
            "sha256": stats.sha256,
            "bytes": stats.bytes,
            "lines": stats.lines,
        }
        write_manifest(store, asset_key, year, manifest)
        log(f"bronze {key}: {stats.bytes:,} bytes from {source.label} at {stored}")
    return outcome


def bronze_pieces(store: LakeStore, asset_key: Any, year: str) -> dict[str, dict]:
    """The year's bronze pieces by key. A lake stored before manifests existed has the
    whole-year file alone: it is the one piece, with an unknown digest."""
    manifest = read_manifest(store, asset_key, year)
    if not manifest and store.exists(store.path(asset_key, year, "raw_csv")):
        return {year: {"sha256": None}}
    return manifest


@dataclass
class SilverOutcome:
    pieces: dict[str, dict]  # the silver manifest after this run
    cleaned: list[str]
    reused: list[str]
    removed: list[str]
    sample: pa.Table  # some silver rows (of the first piece cleaned, else the first piece)
    quarantine: pa.Table  # the year's quarantine, all pieces

    def total(self, field_name: str) -> dict[str, int]:
        """Sum of a per-piece count dict (``counts``, ``quarantine_reasons``, ``read_as``)."""
        summed: Counter[str] = Counter()
        for record in self.pieces.values():
            summed.update(record[field_name])
        return dict(summed)


def refresh_silver(
    store: LakeStore,
    keys: tuple[Any, Any, Any],
    year: str,
    validate: Callable[[pa.Table], None] = lambda _sample: None,
    log: Callable[[str], None] = lambda _msg: None,
) -> SilverOutcome:
    """Clean every bronze piece of ``year`` whose silver piece is missing or was made
    from other bytes or other code; ``keys`` are (bronze, silver, quarantine).

    Each piece is written atomically and recorded as soon as it is done, so a failed
    run keeps the pieces it finished. ``validate`` sees each new piece's sample
    before the piece is committed (and may raise). Pieces whose bronze is gone are
    removed.
    """
    bronze_key, silver_key, quarantine_key = keys
    bronze = bronze_pieces(store, bronze_key, year)
    if not bronze:
        raise FileNotFoundError(
            f"{store.path(bronze_key, year, 'raw_csv')} not found and no bronze pieces of "
            f"{year}: materialize {'/'.join(bronze_key.path)} {year} first"
        )
    manifest = read_manifest(store, silver_key, year)
    code = cleaning_fingerprint()
    outcome = SilverOutcome(manifest, [], [], [], None, None)  # type: ignore[arg-type]
    for key in sorted(set(manifest) - set(bronze)):
        for asset_key in (silver_key, quarantine_key):
            path = store.path(asset_key, key, "parquet")
            if store.exists(path):
                path.fs.rm_file(path.path)
        del manifest[key]
        outcome.removed.append(key)
    for key, source in sorted(bronze.items()):
        silver_path = store.path(silver_key, key, "parquet")
        quarantine_path = store.path(quarantine_key, key, "parquet")
        record = manifest.get(key)
        if (
            record
            and source.get("sha256") is not None
            and record["bronze_sha256"] == source["sha256"]
            and record["cleaning"] == code
            and store.exists(silver_path)
            and store.exists(quarantine_path)
        ):
            outcome.reused.append(key)
            continue
        bronze_path = store.path(bronze_key, key, "raw_csv")
        with atomic_output(silver_path) as tmp:
            result = cleaning.clean_to_parquet(
                lambda path=bronze_path: path.open("rb"),
                int(year),
                tmp,
                f"{'/'.join(bronze_key.path)}/{key}",
                local_path=local_path(bronze_path) if is_local(bronze_path) else None,
                month=Piece.from_key(key).month,
            )
            validate(result.silver_sample)
        store.write_bytes(quarantine_path, cleaning.parquet_bytes(result.quarantine))
        if outcome.sample is None:
            outcome.sample = result.silver_sample
        manifest[key] = {
            "bronze_sha256": source.get("sha256"),
            "cleaning": code,
            "counts": result.counts,
            "quarantine_reasons": result.quarantine_reasons,
            "read_as": result.read_as,
            "batches": result.batches,
        }
        write_manifest(store, silver_key, year, manifest)
        outcome.cleaned.append(key)
        log(f"silver {key}: {result.counts} in {result.batches} blocks")
    if outcome.sample is None:
        outcome.sample = _head(store.path(silver_key, min(manifest), "parquet"))
    quarantine = [store.path(quarantine_key, key, "parquet") for key in sorted(manifest)]
    with readable(quarantine) as sources:
        outcome.quarantine = pa.concat_tables([pq.read_table(s) for s in sources])
    return outcome


@contextlib.contextmanager
def readable(paths: list[UPath]) -> Iterator[list[str | BinaryIO]]:
    """``paths`` as Arrow reads them best: a local file by its path (Arrow reads the
    columns natively), any other opened, and closed when the block ends."""
    with contextlib.ExitStack() as opened:
        yield [local_path(p) if is_local(p) else opened.enter_context(p.open("rb")) for p in paths]


def _head(path: UPath, rows: int = 1000) -> pa.Table:
    with readable([path]) as (source,):
        parquet = pq.ParquetFile(source)
        batch = next(parquet.iter_batches(batch_size=rows), None)
        if batch is None:
            return parquet.schema_arrow.empty_table()
        return pa.Table.from_batches([batch])


def silver_paths(store: LakeStore, silver_key: Any, year: str) -> list[UPath]:
    """The year's silver pieces in order (the legacy whole-year file if no manifest)."""
    manifest = read_manifest(store, silver_key, year)
    keys = sorted(manifest) or [year]
    paths = [store.path(silver_key, key, "parquet") for key in keys]
    missing = [str(p) for p in paths if not store.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"silver pieces of {year} not found: {missing}; materialize "
            f"{'/'.join(silver_key.path)} {year} first"
        )
    return paths
