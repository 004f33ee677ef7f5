"""The lake as a store of objects: where an asset's object lives, and how it is read and written.

One ``LakeStore`` per base URL, a local folder or any fsspec URL (``s3://bucket/prefix``).
Everything that locates, reads or writes a lake object goes through one: the IO manager
(``LakeIOManager.store()``), the assets and sensors that stream big files past it, the
site build and ``serve_site``. So the IO manager's configured ``base_url`` holds for all
of them, and atomic writes, "is this local?" and gzip detection exist once.

Objects live at ``<base>/<asset key path>/<partition path><extension>``; a
multi-partition key ``2021-01-15|NY`` becomes ``2021-01-15/NY``.

Writes are atomic: a reader sees either the old object or the whole new one.
- Local: the writer fills a hidden temporary file in the destination folder, renamed
  over the final name (``os.replace``, atomic on POSIX) only when complete; on error
  the temporary file is removed.
- Object store: one PUT (``pipe_file``) for bytes, one ``put_file`` (a single PUT or a
  multipart upload that becomes visible only when completed) for files and streams.

No Dagster import: the store knows asset keys only as paths (``AssetKey`` or
``"a/b"``), so pure modules and command-line tools can use it too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO

from upath import UPath

from resources.lake_files import CopyStats, copy_stream

GZIP_MAGIC = b"\x1f\x8b"
LOCAL_PROTOCOLS = ("", "file", "local")

# File name extension of each storage format (the IO manager's codecs read and write them).
EXTENSIONS = {
    "parquet": ".parquet",
    "csv": ".csv",
    "netcdf": ".nc",
    "msgpack": ".msgpack",
    "json": ".json",
    "raw_csv": ".csv",
    "raw_csv_gz": ".csv.gz",
    "raw_bytes": ".bin",
    "png": ".png",
}


def is_gzip(head: bytes) -> bool:
    """Whether bytes (the first two are enough) start a gzip stream."""
    return head[:2] == GZIP_MAGIC


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def local_path(path: UPath) -> str:
    """The operating system path of a local ``path``."""
    return os.fspath(path.path if hasattr(path, "path") else path)


def with_extension(path: UPath, fmt: str) -> UPath:
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown lake format {fmt!r}; known: {sorted(EXTENSIONS)}")
    return path.with_name(path.name + EXTENSIONS[fmt])


def _key_parts(asset_key: Any) -> Sequence[str]:
    # An AssetKey has .path; a string is its user form, "/" separated.
    return asset_key.path if hasattr(asset_key, "path") else str(asset_key).split("/")


class LakeStore:
    """Objects under one base URL: paths, existence, listing, reads and atomic writes."""

    def __init__(self, base_url: str | os.PathLike[str]) -> None:
        self.base = UPath(base_url)

    def __repr__(self) -> str:
        return f"LakeStore({str(self.base)!r})"

    @property
    def is_local(self) -> bool:
        return is_local(self.base)

    def folder(self, *parts: str) -> UPath:
        """A folder under the base (``landing``, ``rt/site/<date>``)."""
        return self.base.joinpath(*parts)

    def path(self, asset_key: Any, partition: str | None = None, fmt: str | None = None) -> UPath:
        """Where ``asset_key`` (and partition, ``|`` separated for multi-partitions) is stored
        in format ``fmt`` (a key of ``EXTENSIONS``); without a format, its folder."""
        path = self.base.joinpath(*_key_parts(asset_key))
        if partition:
            path = path.joinpath(*partition.split("|"))
        return with_extension(path, fmt) if fmt else path

    @staticmethod
    def exists(path: UPath) -> bool:
        return path.exists()

    @staticmethod
    def read_bytes(path: UPath) -> bytes:
        return path.fs.cat_file(path.path)

    @staticmethod
    def remove(path: UPath) -> None:
        """Delete the object at ``path``; nothing to do if there is none."""
        if path.exists():
            path.fs.rm_file(path.path)

    @staticmethod
    def is_gzip(path: UPath) -> bool:
        """Whether the stored object at ``path`` is gzip-compressed (reads two bytes)."""
        with path.open("rb") as fh:
            return is_gzip(fh.read(2))

    @staticmethod
    def list_files(folder: UPath) -> list[dict[str, Any]]:
        """Top-level files of ``folder`` as fsspec ``ls(detail=True)`` entries (none if absent)."""
        if not folder.exists():
            return []
        return [i for i in folder.fs.ls(folder.path, detail=True) if i.get("type") == "file"]

    @staticmethod
    def write_bytes(path: UPath, data: bytes, content_type: str | None = None) -> None:
        """Write ``data`` atomically; ``content_type`` is stored with the object where the
        store keeps one (S3 static hosting serves it: without it a browser would download
        a page instead of showing it)."""
        if is_local(path):
            with atomic_output(path) as tmp, open(tmp, "wb") as fh:
                fh.write(data)
        elif content_type:
            path.fs.pipe_file(path.path, data, ContentType=content_type)
        else:
            path.fs.pipe_file(path.path, data)

    @staticmethod
    def write_stream(src: BinaryIO, path: UPath) -> CopyStats:
        """Stream ``src`` into ``path`` atomically, never all in memory; returns the
        size, line count and sha256 of what was stored."""
        with atomic_output(path) as tmp, open(tmp, "wb") as out:
            return copy_stream(src, out)

    @staticmethod
    def write_local_file(src_path: str | os.PathLike[str], path: UPath) -> CopyStats:
        """A local file into ``path`` atomically; returns its ``CopyStats``.

        Into a local lake the kernel copies it (``shutil.copyfile``, the bytes never pass
        through Python); the digest is taken of the copy before it gets its final name,
        so it is the digest of exactly what is stored.
        """
        with atomic_output(path) as tmp:
            shutil.copyfile(src_path, tmp)
            with open(tmp, "rb") as fh:
                return copy_stream(fh)


@contextmanager
def atomic_output(dst: UPath) -> Iterator[str]:
    """A local file path to write; it becomes ``dst`` atomically when the block succeeds."""
    local = is_local(dst)
    if local:
        target = local_path(dst)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    else:
        fd, tmp = tempfile.mkstemp(prefix="lake-", suffix=".tmp")
        os.close(fd)
    try:
        yield tmp
        if local:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        else:
            dst.fs.put_file(tmp, dst.path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
