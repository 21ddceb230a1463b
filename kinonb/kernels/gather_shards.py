"""Window gather over several buffers (the shards of a dataset): one compiled call per key per batch.

The twin of :mod:`kinonb.kernels.gather` for episodes that live in different files: episode ``e``'s rows are
in ``flats[ep_buf[e]]``. Kept apart from the single-file kernel so that one pays nothing for the indirection
(the actions-only loop of one file is the path where every microsecond shows); the copy loop is written out in
both, since sharing it as an inlined helper kernel made the single-file gather 4x slower (measured: Numba no
longer vectorised the copies). The caller has checked every
index as for :func:`kinonb.kernels.gather.gather_windows`, per buffer: ``ep_start[e] + ep_len[e] * row_elems
<= flats[ep_buf[e]].size`` and ``0 <= ep_buf[e] < len(flats)``.
"""

from __future__ import annotations

import numpy as np

from .gather import PARALLEL_MIN_ELEMS
from .jit import JIT_ENABLED, kernel
from .threads import num_threads, split_over_threads, whole_batch


@kernel
def gather_shards_chunk(flats, ep_buf, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad,
                        b0, b1):
    """Samples ``b0 .. b1 - 1``: ``out[b, w] = row clamp(t + offsets[w], 0, L - 1)`` of episode
    ``sample_ep[b]`` (in buffer ``flats[ep_buf[e]]``), and ``is_pad[b, w]`` where the row was clamped.

    The samples are taken buffer by buffer (a counting sort first): fetching an array out of a typed list costs
    about 100 ns, so once per buffer, not once per sample."""
    o = out.reshape(-1)
    W = offsets.shape[0]
    if W == 0 or b1 <= b0:
        return
    lo, hi, contiguous = offsets[0], offsets[0], True
    for w in range(1, W):
        contiguous = contiguous and offsets[w] == offsets[w - 1] + 1
        lo, hi = min(lo, offsets[w]), max(hi, offsets[w])
    P = len(flats)
    first = np.zeros(P + 1, np.int64)  # samples of buffer p: order[first[p]:first[p + 1]]
    for b in range(b0, b1):
        first[ep_buf[sample_ep[b]] + 1] += 1
    for p in range(P):
        first[p + 1] += first[p]
    fill = first.copy()
    order = np.empty(b1 - b0, np.int64)
    for b in range(b0, b1):
        p = ep_buf[sample_ep[b]]
        order[fill[p]] = b
        fill[p] += 1
    R = np.uint64(row_elems)
    for p in range(P):
        if first[p] == first[p + 1]:
            continue
        flat = flats[p]
        for j in range(first[p], first[p + 1]):
            b = order[j]
            e = sample_ep[b]
            n, t = ep_len[e], sample_t[b]
            base = np.uint64(ep_start[e])
            out0 = np.uint64(b * W) * R
            if contiguous and t + lo >= 0 and t + hi < n:  # one block of rows, no padding
                src = base + np.uint64(t + lo) * R
                for k in range(np.uint64(W) * R):
                    o[out0 + k] = flat[src + k]
                for w in range(W):
                    is_pad[b, w] = False
                continue
            for w in range(W):
                f = t + offsets[w]
                is_pad[b, w] = f < 0 or f >= n
                src = base + np.uint64(min(max(f, 0), n - 1)) * R
                dst = out0 + np.uint64(w) * R
                for k in range(R):
                    o[dst + k] = flat[src + k]


_serial = whole_batch(gather_shards_chunk, count_arg=5)
_parallel = split_over_threads(gather_shards_chunk, count_arg=5)


def gather_shards(flats, ep_buf, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad):
    """Run the serial or the split gather, whichever suits the batch size (as ``gather_windows`` does)."""
    split = out.size >= PARALLEL_MIN_ELEMS and sample_ep.shape[0] > 1 and num_threads() > 1
    (_parallel if split else _serial)(flats, ep_buf, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets,
                                      out, is_pad)


def buffer_list(flats: list):
    """The ``flats`` argument of :func:`gather_shards`: a Numba typed list of the 1-D buffers (one dtype), built
    once per index (a plain list where JIT is off)."""
    if not JIT_ENABLED:
        return list(flats)
    from numba.typed import List

    return List(flats)
