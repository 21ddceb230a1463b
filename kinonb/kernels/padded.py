"""Window gather for columns whose last per-frame axis differs between episodes (mixed widths).

Episode ``e``'s frames are ``ep_count[e]`` rows of ``lead * ep_dim[e]`` elements (``lead`` the product of the
per-frame axes before the last, equal for every episode) starting at ``flat[ep_start[e]]``. The output row of
every sample is ``lead * width`` elements: each of the ``lead`` sub-rows holds the episode's ``ep_dim[e]``
values, then ``zero[0]`` up to ``width``. ``sample_t`` is each sample's anchor frame: its own frame for a
per-frame key, the latest-at stream frame for a stream (-1: none yet).

The caller has checked every index (Numba does no bounds checks): ``ep_start[e] + ep_count[e] * lead *
ep_dim[e] <= flat.size`` and ``ep_count[e] >= 1`` for every sampled episode, ``ep_dim[e] <= width``,
``0 <= sample_ep[b] < len(ep_count)``, ``out`` / ``is_pad`` C-contiguous ``(B, W, lead * width)`` / ``(B, W)``.
"""

from __future__ import annotations

import numpy as np

from .gather import PARALLEL_MIN_ELEMS
from .jit import kernel
from .threads import num_threads, split_over_threads, whole_batch


@kernel
def gather_padded_chunk(flat, ep_start, ep_count, ep_dim, lead, width, sample_ep, sample_t, offsets, zero, out,
                        is_pad, b0, b1):
    """Samples ``b0 .. b1 - 1``: ``out[b, w]`` = row ``clamp(t + offsets[w], 0, n - 1)`` of episode
    ``sample_ep[b]`` widened to ``width``, ``is_pad[b, w]`` where the frame lies outside ``[0, n)``.

    One loop, kept whole (see :func:`kinonb.kernels.gather.gather_windows_chunk`: a helper kernel costs a
    compile of its own); unsigned indices let LLVM vectorise the copies.
    """
    o = out.reshape(-1)
    W = offsets.shape[0]
    z = zero[0]
    L = np.uint64(lead)
    WD = np.uint64(width)
    R_out = L * WD
    for b in range(b0, b1):
        e = sample_ep[b]
        n = ep_count[e]
        d = np.uint64(ep_dim[e])
        rows = L * d
        base = np.uint64(ep_start[e])
        t = sample_t[b]
        for w in range(W):
            f = t + offsets[w]
            is_pad[b, w] = f < 0 or f >= n
            src = base + np.uint64(min(max(f, 0), n - 1)) * rows
            dst = np.uint64(b * W + w) * R_out
            for j in range(L):
                s = src + j * d
                q = dst + j * WD
                for k in range(d):
                    o[q + k] = flat[s + k]
                for k in range(d, WD):
                    o[q + k] = z


#: The whole batch in the calling thread.
gather_padded_serial = whole_batch(gather_padded_chunk, count_arg=6)
#: The whole batch split over threads (:mod:`kinonb.kernels.threads`).
gather_padded_parallel = split_over_threads(gather_padded_chunk, count_arg=6)


def gather_padded(flat, ep_start, ep_count, ep_dim, lead, width, sample_ep, sample_t, offsets, zero, out, is_pad):
    """Run the serial or the split gather, whichever suits the batch size. Arguments as above."""
    args = (flat, ep_start, ep_count, ep_dim, lead, width, sample_ep, sample_t, offsets, zero, out, is_pad)
    if out.size >= PARALLEL_MIN_ELEMS and sample_ep.shape[0] > 1 and num_threads() > 1:
        gather_padded_parallel(*args)
    else:
        gather_padded_serial(*args)
