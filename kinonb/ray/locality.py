"""Read tasks grouped by byte locality.

Within each file the episodes are put in the order of their bytes (the first block of the columns the read
touches, from the reader's :meth:`block_ranges`), the files one after the other in dataset order; that
sequence is cut into contiguous groups of about equal bytes. A task so reads one run of the file front to
back (one run per file it spans), and each episode is in exactly one task.
"""

from __future__ import annotations

import numpy as np


def episode_extents(db, positions: np.ndarray, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per episode of ``positions``: the offset of its first byte that the read touches, and how many bytes of
    ``columns`` it reads (from the footer, :meth:`kinonb.Database.episode_extents`); an episode without such
    bytes sorts right after the episode before it."""
    first, nbytes = db.episode_extents(positions, columns=columns)
    if (first < 0).any():  # no bytes: place it after the last byte of the episode before it
        first = np.maximum.accumulate(first)
    return first, nbytes


def byte_order(first: np.ndarray) -> np.ndarray:
    """The permutation that puts episodes in the order of their bytes in the file (ties: dataset order)."""
    return np.argsort(first, kind="stable")


def cut(weights: np.ndarray, groups: int) -> list[np.ndarray]:
    """Split ``range(len(weights))`` into ``min(groups, len(weights))`` contiguous, non-empty runs whose sums of
    ``weights`` are as equal as whole units allow (each boundary at the unit edge nearest its share)."""
    n = len(weights)
    k = max(1, min(int(groups), n))
    if n == 0:
        return []
    w = np.asarray(weights, np.float64) + 1.0  # a unit of no bytes still costs a little
    ends = np.cumsum(w)
    bounds = []
    prev = 0
    for g in range(1, k):
        target = ends[-1] * g / k
        j = int(np.searchsorted(ends, target))  # unit j's end is the first at or past the target
        b = j + 1 if j < n and ends[j] - target <= target - (ends[j - 1] if j else 0.0) else j
        b = min(max(b, prev + 1), n - (k - g))
        bounds.append(b)
        prev = b
    return np.split(np.arange(n), bounds)
