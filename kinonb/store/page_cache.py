"""Asking the kernel to read what a sampler will touch into the page cache before it is touched (issue 18 req 3).

A first epoch over a cold file pays one disk read per page fault, in the sampler's random order. The low-dim
columns of the sampled episodes are small, so ``SampleIndex.prefetch`` hands their byte ranges, merged and
page-aligned, to ``posix_fadvise(WILLNEED)``: the kernel queues the reads in file order and returns at once,
and the epoch then faults on pages already in memory or on their way. It is a hint: results never depend on
it, and where it is unavailable (not Linux, a file that is not a .knb map) it does nothing.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

#: Ranges closer than this are asked for as one (fewer calls; the kernel reads a little of what lies between).
MERGE_GAP = 64 << 10
#: At most this share of the memory the kernel reports available is asked for.
MEMORY_SHARE = 0.5


def merged_ranges(starts, lengths, size: int, gap: int = MERGE_GAP) -> tuple[np.ndarray, np.ndarray]:
    """Page-aligned ``(lo, hi)`` byte ranges covering ``[start, start + length)`` for each non-empty range within
    ``[0, size)``, sorted and merged where they overlap or lie closer than ``gap``."""
    starts = np.asarray(starts, np.int64).ravel()
    ends = np.minimum(starts + np.asarray(lengths, np.int64).ravel(), size)
    keep = (starts >= 0) & (ends > starts)
    page = mmap.PAGESIZE
    lo, hi = starts[keep] // page * page, -(-ends[keep] // page) * page
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    if not len(lo):
        return lo, hi
    hi = np.maximum.accumulate(hi)  # the end of everything so far: ranges nested in an earlier one merge into it
    new = np.ones(len(lo), bool)
    new[1:] = lo[1:] > hi[:-1] + gap
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(lo) - 1)
    return lo[first], np.minimum(hi[last], size)


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, None where it is unknown."""
    try:
        with open("/proc/meminfo", "rb") as f:
            lines = [line for line in f if line.startswith(b"MemAvailable:")]
        return int(lines[0].split()[1]) * 1024 if lines else None
    except (OSError, ValueError, IndexError):  # not Linux, or a kernel that words it otherwise
        return None


def will_need(path, lo: np.ndarray, hi: np.ndarray) -> int:
    """posix_fadvise(WILLNEED) each range of ``path`` in file order, within the memory budget; return the bytes
    asked for."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None or not len(lo):
        return 0
    free = available_memory()
    budget = int(free * MEMORY_SHARE) if free is not None else int(hi[-1] - lo[0])
    sizes = hi - lo
    count = int(np.searchsorted(np.cumsum(sizes), budget, side="right"))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        for a, b in zip(lo[:count].tolist(), hi[:count].tolist()):
            advise(fd, a, b - a, os.POSIX_FADV_WILLNEED)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return int(sizes[:count].sum())
