"""A block's column statistics for the writer: :func:`kinonb.format.stats.of_array`'s figures, from the compiled
two-pass kernel (:mod:`kinonb.kernels.moments`) for the wide numeric dtypes (a few microseconds for a small
block, where numpy's six reductions cost ~30; big arrays split over threads), numpy's histogram path for 1-byte
ones (camera frames) and float16."""

from __future__ import annotations

import numpy as np

from ..format import stats as S
from ..kernels.moments import moments
from ..kernels.threads import run_split

#: Elements from which the statistics of one array are split over threads.
SPLIT_ELEMENTS = 1 << 20


def column_stats(arr: np.ndarray) -> np.ndarray:
    """The STAT record of every scalar element of ``arr``."""
    if arr.dtype.itemsize == 1 or arr.dtype.kind not in "iuf" or arr.dtype == np.float16 or not arr.size:
        return S.of_array(arr)
    flat = arr.reshape(-1)
    if flat.size < SPLIT_ELEMENTS:
        return _record(_moments(flat, 0, flat.size))
    total = S.empty()
    for m in run_split(_moments, flat.size, flat):
        total = S.merge(total, _record(m))
    return total


def _moments(flat, lo, hi):
    m = np.empty(7, np.float64)
    moments(flat[lo:hi], m)
    return m


def _record(m: np.ndarray) -> np.ndarray:
    s = S.empty()
    s["count"], s["nan_count"], s["inf_count"] = int(m[0]), int(m[1]), int(m[2])
    s["min"], s["max"], s["mean"], s["m2"] = m[3], m[4], m[5], m[6]
    return s
