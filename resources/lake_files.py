"""Streaming, atomic file writes into the lake (local folder or object store).

``resources.io_manager.atomic_write_bytes`` needs the whole object in memory;
a year of flights is ~700 MB of CSV, so the lake's big objects are written
from files and streams instead, with the same guarantee: a reader sees either
the old object or the whole new one, never a half-written file.

- Local: the writer fills a hidden temporary file in the destination folder,
  which is renamed over the final name (``os.replace``, atomic on POSIX) only
  when complete; on error the temporary file is removed.
- Object store: the writer fills a local temporary file, uploaded with one
  ``put_file`` (a single PUT or a multipart upload that becomes visible only
  when completed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from upath import UPath

CHUNK = 8 << 20


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def _local_path(path: UPath) -> str:
    return os.fspath(path.path if hasattr(path, "path") else path)


@contextmanager
def atomic_output(dst: UPath) -> Iterator[str]:
    """A local file path to write; it becomes ``dst`` atomically when the block succeeds."""
    if is_local(dst):
        target = _local_path(dst)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    else:
        fd, tmp = tempfile.mkstemp(prefix="lake-", suffix=".tmp")
        os.close(fd)
    try:
        yield tmp
        if is_local(dst):
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        else:
            dst.fs.put_file(tmp, dst.path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class CopyStats:
    bytes: int
    lines: int
    sha256: str


class _Digest:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.lines = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.lines += chunk.count(b"\n")


def copy_stream(src: BinaryIO, dst: BinaryIO | None = None) -> CopyStats:
    """Copy ``src`` to ``dst`` (or only read it) in chunks, hashing and counting lines.

    A helper thread hashes and counts each chunk while this thread reads and writes
    the next (hashlib and file I/O release the GIL), so a 700 MB year costs the longer
    of the two, not their sum. Chunks reach the digest in order, at most two in memory.
    """
    digest = _Digest()
    size = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-hash") as hasher:
        pending: Future[None] | None = None
        while chunk := src.read(CHUNK):
            if pending is not None:
                pending.result()
            pending = hasher.submit(digest.update, chunk)
            if dst is not None:
                dst.write(chunk)
            size += len(chunk)
        if pending is not None:
            pending.result()
    return CopyStats(size, digest.lines, digest.sha256.hexdigest())


def file_digest(path: UPath) -> CopyStats:
    with path.open("rb") as fh:
        return copy_stream(fh)


def atomic_write_stream(src: BinaryIO, dst: UPath) -> CopyStats:
    """Stream ``src`` into ``dst`` atomically; returns size, line count and sha256."""
    with atomic_output(dst) as tmp, open(tmp, "wb") as out:
        stats = copy_stream(src, out)
        out.flush()
    return stats


def atomic_copy_local(src_path: str | os.PathLike, dst: UPath) -> CopyStats:
    """A local file into a local ``dst`` atomically: copied by the kernel, then hashed.

    ``shutil.copyfile`` copies without passing the bytes through Python; the digest is
    taken of the copy itself before it gets its final name, so it is the digest of
    exactly what is stored.
    """
    with atomic_output(dst) as tmp:
        shutil.copyfile(src_path, tmp)
        with open(tmp, "rb") as fh:
            return copy_stream(fh)
