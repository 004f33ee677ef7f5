"""Streaming copies that hash and count lines as they go (for the lake's big files).

A year of flights is ~700 MB of CSV: ``LakeStore.write_stream`` and
``write_local_file`` (resources/lake_store.py) store it atomically without
holding it in memory, and report through ``copy_stream`` what they stored.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from upath import UPath

CHUNK = 8 << 20


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
