"""Window gather: one compiled call per key per batch, from the file's flat view into a caller's buffer.

The caller has checked every index before the call (Numba does no bounds checks): ``ep_start[e] +
ep_len[e] * row_elems <= flat.size`` for each episode, ``0 <= sample_ep[b] < len(ep_len)``, every
sampled episode has ``ep_len >= 1``, and ``out`` / ``is_pad`` are C-contiguous of shapes ``(B, W, row_elems)``
/ ``(B, W)`` (a non-contiguous ``out`` does not compile).
"""

from __future__ import annotations

import numpy as np

from .jit import kernel
from .threads import num_threads, split_over_threads, whole_batch

# Elements per batch (B * W * row_elems) from which the batch is split over threads. Measured on 2 cores, quiet
# and with a competing load (`python -m bench.bench_kernels --only thresholds`): a hand-off costs 40-65 us, and
# the copy is memory bound, so splitting lost in both regimes below 4M elements (16 MB of float32 per batch)
# and was within 8% either way above. Low-dim batches stay serial and leave the other cores to the loop.
PARALLEL_MIN_ELEMS = 1 << 22


@kernel
def gather_windows_chunk(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad, b0, b1):
    """Samples ``b0 .. b1 - 1``: ``out[b, w] = row clamp(t + offsets[w], 0, L - 1)`` of episode
    ``sample_ep[b]``, and ``is_pad[b, w]`` where the row was clamped.

    One function, kept whole: each helper kernel costs a compile of its own on a fresh machine (~0.5 s), and
    this one loop is the whole kernel. Copy loops are written out (a call per sample or per copy costs a third
    of the time); unsigned indices spare Numba's negative-index wraparound, so LLVM vectorises the copies (2-3x
    faster than signed indexing for rows of 7 floats).
    """
    o = out.reshape(-1)
    W = offsets.shape[0]
    if W == 0:
        return
    lo = offsets[0]
    hi = offsets[0]
    contiguous = True  # offsets run lo, lo + 1, ..., hi
    for w in range(1, W):
        contiguous = contiguous and offsets[w] == offsets[w - 1] + 1
        lo = min(lo, offsets[w])
        hi = max(hi, offsets[w])
    R = np.uint64(row_elems)
    for b in range(b0, b1):
        e = sample_ep[b]
        n = ep_len[e]
        base = np.uint64(ep_start[e])
        t = sample_t[b]
        out0 = np.uint64(b * W) * R
        if contiguous and t + lo >= 0 and t + hi < n:  # the common case: one block of rows, no padding
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


#: ``out[b, w] = row clamp(t + offsets[w], 0, L - 1)`` of episode ``sample_ep[b]``; flag clamped ones.
gather_windows_serial = whole_batch(gather_windows_chunk, count_arg=4)
#: The same with the samples split over threads (:mod:`kinonb.kernels.threads`).
gather_windows_parallel = split_over_threads(gather_windows_chunk, count_arg=4)


def gather_windows(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad):
    """Run the serial or the split gather, whichever suits the batch size. Arguments as above."""
    if out.size >= PARALLEL_MIN_ELEMS and sample_ep.shape[0] > 1 and num_threads() > 1:
        gather_windows_parallel(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad)
    else:
        gather_windows_serial(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad)
