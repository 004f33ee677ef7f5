"""The C allocator's threshold for large blocks, fixed for processes that fit the model.

glibc serves a block above ``M_MMAP_THRESHOLD`` with its own ``mmap`` and returns it to the
system when freed, but by default it raises that threshold each time such a block is freed
(up to 32 MiB). After the first fit, a fit's arrays of a few MiB (draws, gradients, the
posterior's variables) then come from the heap, whose freed space the process keeps: one
process fitting a batch of 6 `full` posteriors of CA grew from 840 to 1,235 MiB of peak
RSS. With the threshold fixed at 1 MiB it stayed at 741–760 MiB, and took 1.02x the time
(benchmarks/results/2026-12-04-backfill-batches.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1 << 20


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` (which also stops its adjustment); False
    where the C library is not glibc (nothing is changed there)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, nbytes) == 1
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD, %d) refused", nbytes)
    return done
