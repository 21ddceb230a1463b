"""Latest-at lookups over per-episode time segments, and the window gather on a fixed time grid.

``times[seg_start[e] : seg_start[e] + seg_len[e]]`` are episode ``e``'s times (float64 seconds, never
decreasing). The *latest-at* frame for a time ``q`` is the last index ``i`` with ``times[i] <= q + tol``
(-1 when none): ``tol`` (:data:`TIME_TOLERANCE`, 1 ns) absorbs the rounding between a grid time ``t0 + k / hz``
and a stored ``k / fps`` or ``0.1 * k``, so that a frame stamped at a grid time is that grid step's frame.

The caller has checked every index: ``seg_start[e] + seg_len[e] <= times.size``, ``0 <= sample_seg[j] <
len(seg_len)``; for the gather also those of :mod:`kinonb.kernels.padded` with ``seg_len[e]`` rows of the
episode in ``flat`` and ``seg_len[e] >= 1`` for every sampled episode.
"""

from __future__ import annotations

import numpy as np

from .gather import PARALLEL_MIN_ELEMS
from .jit import kernel
from .threads import num_threads, split_over_threads, whole_batch

TIME_TOLERANCE = 1e-9  # seconds


@kernel
def latest_at(times, seg_start, seg_len, sample_seg, query, tol, out):
    """``out[j]`` = the latest-at index (within its segment) of ``query[j]`` in segment ``sample_seg[j]``."""
    for j in range(query.shape[0]):
        e = sample_seg[j]
        s = seg_start[e]
        q = query[j] + tol
        lo = 0
        hi = seg_len[e]
        while lo < hi:
            mid = (lo + hi) // 2
            if times[s + mid] <= q:
                lo = mid + 1
            else:
                hi = mid
        out[j] = lo - 1


@kernel
def gather_latest_chunk(flat, ep_start, ep_dim, lead, width, times, seg_start, seg_len, t0, t_end, hz, tol,
                        max_stale, sample_ep, sample_k, offsets, zero, out, is_pad, b0, b1):
    """Samples ``b0 .. b1 - 1`` on the grid: entry ``w`` of sample ``b`` (episode ``e``, grid step ``k``) is the
    latest-at row of the time ``q = t0[e] + (k + offsets[w]) / hz``, widened to ``width`` as in
    :func:`kinonb.kernels.padded.gather_padded_chunk`; ``is_pad`` where ``q`` lies before the first time, after
    ``t_end[e] + tol``, or more than ``max_stale`` seconds after the row's time (the row is still copied,
    clamped to the first one before the first time).

    One loop, kept whole: search and copy in one compiled call per key per batch. Within a window of
    non-decreasing offsets each search gallops on from the previous entry's row (a few cached reads instead of a
    binary search over the whole segment).
    """
    o = out.reshape(-1)
    W = offsets.shape[0]
    z = zero[0]
    L = np.uint64(lead)
    WD = np.uint64(width)
    R_out = L * WD
    for b in range(b0, b1):
        e = sample_ep[b]
        s = seg_start[e]
        d = np.uint64(ep_dim[e])
        rows = L * d
        base = np.uint64(ep_start[e])
        n = seg_len[e]
        f = -1
        for w in range(W):
            q = t0[e] + (sample_k[b] + offsets[w]) / hz
            qt = q + tol
            lo = 0
            hi = n
            if w > 0 and f >= 0 and offsets[w] >= offsets[w - 1]:  # gallop on from the previous entry's row
                a = f
                step = 1
                while a + step < n and times[s + a + step] <= qt:
                    a += step
                    step *= 2
                lo = a + 1
                hi = min(a + step, n)
            while lo < hi:
                mid = (lo + hi) // 2
                if times[s + mid] <= qt:
                    lo = mid + 1
                else:
                    hi = mid
            f = lo - 1
            is_pad[b, w] = f < 0 or q > t_end[e] + tol or (f >= 0 and q - times[s + f] > max_stale)
            src = base + np.uint64(max(f, 0)) * rows
            dst = np.uint64(b * W + w) * R_out
            for j in range(L):
                sj = src + j * d
                qj = dst + j * WD
                for k in range(d):
                    o[qj + k] = flat[sj + k]
                for k in range(d, WD):
                    o[qj + k] = z


gather_latest_serial = whole_batch(gather_latest_chunk, count_arg=13)
gather_latest_parallel = split_over_threads(gather_latest_chunk, count_arg=13)


def gather_latest(flat, ep_start, ep_dim, lead, width, times, seg_start, seg_len, t0, t_end, hz, tol, max_stale,
                  sample_ep, sample_k, offsets, zero, out, is_pad):
    """Run the serial or the split grid gather, whichever suits the batch size. Arguments as above."""
    args = (flat, ep_start, ep_dim, lead, width, times, seg_start, seg_len, t0, t_end, hz, tol, max_stale,
            sample_ep, sample_k, offsets, zero, out, is_pad)
    if out.size >= PARALLEL_MIN_ELEMS and sample_ep.shape[0] > 1 and num_threads() > 1:
        gather_latest_parallel(*args)
    else:
        gather_latest_serial(*args)
