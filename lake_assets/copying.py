"""Copying a landed file into bronze: hashing and counting beside writing.

Pure module (no Dagster). ``resources.lake_files.copy_stream`` reads, hashes,
counts and writes each chunk in turn; for a 700 MB year that is a second of
one core. Here a helper thread hashes and counts each chunk while this
thread writes it (hashlib and file writes release the GIL), so the copy takes
the longer of the two instead of their sum. The digest is of exactly the
bytes written.
"""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from upath import UPath

from resources import lake_files

CHUNK = 8 << 20


class _Digest:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.lines = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.lines += chunk.count(b"\n")


def copy_hashing(src: BinaryIO, dst: BinaryIO | None = None) -> lake_files.CopyStats:
    """Copy ``src`` to ``dst`` (or only read it) in chunks; size, lines, sha256 of the bytes."""
    digest = _Digest()
    size = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze-hash") as hasher:
        # One chunk hashed while the next is read and written: chunks reach
        # the digest in order, and at most two are in memory.
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
    return lake_files.CopyStats(size, digest.lines, digest.sha256.hexdigest())


def atomic_copy_hashing(src: BinaryIO, dst: UPath) -> lake_files.CopyStats:
    """``copy_hashing`` into ``dst``, atomically (see ``resources.lake_files.atomic_output``)."""
    with lake_files.atomic_output(dst) as tmp, open(tmp, "wb") as out:
        return copy_hashing(src, out)


def atomic_copy_local_hashing(src_path: str, dst: UPath) -> lake_files.CopyStats:
    """A local file into a local ``dst`` atomically: copied by the kernel, then hashed.

    ``shutil.copyfile`` copies in the kernel (no pass through Python buffers);
    the digest is then taken of the copy itself, before it gets its final
    name, so it is the digest of exactly what bronze stores.
    """
    with lake_files.atomic_output(dst) as tmp:
        shutil.copyfile(src_path, tmp)
        with open(tmp, "rb") as fh:
            return copy_hashing(fh)
