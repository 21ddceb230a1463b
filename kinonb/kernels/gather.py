"""Window gather: one compiled call per key per batch, from the file's flat view into a caller's buffer.

The caller has checked every index before the call (Numba does no bounds checks): ``ep_start[e] +
ep_len[e] * row_elems <= flat.size`` for each episode, ``0 <= sample_ep[b] < len(ep_len)``, every
sampled episode has ``ep_len >= 1``, and ``out`` / ``is_pad`` are C-contiguous of shapes ``(B, W, row_elems)``
/ ``(B, W)`` (a non-contiguous ``out`` does not compile).
"""

from __future__ import annotations

from ..jit import kernel, prange

# Elements per batch (B * W * row_elems) from which the prange variant wins on this machine's 2+ cores.
# Measured with bench/bench_kernels.py: the thread pool costs ~10-20 us per call, a serial copy moves
# ~1-2 elements per ns, so below ~64K elements the serial loop is faster.
PARALLEL_MIN_ELEMS = 1 << 16


@kernel
def _gather_range(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, o, is_pad, b0, b1):
    # Samples b0..b1-1 in one call: a call per sample would cost a third of the loop's time.
    W = offsets.shape[0]
    for b in range(b0, b1):
        e = sample_ep[b]
        n = ep_len[e]
        base = ep_start[e]
        t = sample_t[b]
        w = 0
        while w < W:
            f = t + offsets[w]
            if f < 0:
                f = 0
                is_pad[b, w] = True
            elif f >= n:
                f = n - 1
                is_pad[b, w] = True
            else:
                is_pad[b, w] = False
            # Consecutive offsets inside the episode read consecutive rows: copy the run in one loop.
            run = 1
            while w + run < W:
                g = t + offsets[w + run]
                if g != f + run or g >= n:
                    break
                is_pad[b, w + run] = False
                run += 1
            # Sliced views indexed from 0 by a range loop let Numba drop its negative-index wraparound, so
            # LLVM vectorises the copy (3x faster than flat[src + k] for rows of 7 floats).
            src = flat[base + f * row_elems:]
            dst = o[(b * W + w) * row_elems:]
            for k in range(run * row_elems):
                dst[k] = src[k]
            w += run


@kernel
def gather_windows_serial(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad):
    """``out[b, w] = row clamp(t + offsets[w], 0, L - 1)`` of episode ``sample_ep[b]``; flag clamped ones."""
    o = out.reshape(-1)
    _gather_range(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, o, is_pad, 0, sample_ep.shape[0])


@kernel(parallel=True)
def gather_windows_parallel(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad):
    """:func:`gather_windows_serial` with samples spread over Numba's threads in chunks."""
    o = out.reshape(-1)
    B = sample_ep.shape[0]
    chunks = min(B, 64)
    for c in prange(chunks):
        b0 = B * c // chunks
        b1 = B * (c + 1) // chunks
        _gather_range(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, o, is_pad, b0, b1)


def gather_windows(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad):
    """Run the serial or the parallel gather, whichever suits the batch size. Arguments as above."""
    if out.size >= PARALLEL_MIN_ELEMS:
        gather_windows_parallel(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad)
    else:
        gather_windows_serial(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad)
