"""Resize kernels with the layout change (HWC -> CHW) and the scaling to [0, 1] fused into the same pass.

Index math follows ``torch.nn.functional.interpolate`` (``antialias=False``):

- ``nearest``: ``src = min(floor(dst * float32(in / out)), in - 1)``, computed in float32 as torch does.
- ``bilinear`` (``align_corners=False``): ``x = max((dst + 0.5) * in / out - 0.5, 0)``, taps ``floor(x)`` and
  ``min(floor(x) + 1, in - 1)`` weighted ``1 - frac(x)`` and ``frac(x)``.
- ``area``: the mean over ``[floor(dst * in / out), ceil((dst + 1) * in / out))``, torch's
  ``adaptive_avg_pool2d`` (what ``mode="area"`` runs). The same rule serves upscaling, where each output
  pixel is the mean of the one or two source pixels its bin touches; it equals torch for every size.

Bilinear and area run as two separable passes (rows, then columns) in float32 with tables built once per
call. A uint8 output is rounded half up; a float32 output with ``normalize`` is divided by 255.
An output of the input's size is a plain copy (every mode is the identity there).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import InvalidArgumentError
from .jit import kernel
from .threads import num_threads, split_over_threads

MODES = ("nearest", "bilinear", "area")

# Output elements (N * OH * OW * C) from which the frames are split over threads (with >= 2 frames). Measured on
# 2 cores (`python -m bench.bench_kernels --only thresholds`): two 3x224x224 frames lost split, quiet and busy;
# four won by 24% quiet and lost 10% with a competing load.
PARALLEL_MIN_ELEMS = 1 << 19


def axis_table(n_in: int, n_out: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(index, weight)``, each ``(n_out, taps)``: output ``i`` is ``sum_k weight[i, k] * in[index[i, k]]``."""
    dst = np.arange(n_out, dtype=np.int64)
    if n_in == n_out:
        index, weight = dst[:, None], np.ones((n_out, 1))
    elif mode == "nearest":
        scale = np.float32(n_in) / np.float32(n_out)
        index = np.minimum(np.floor(dst.astype(np.float32) * scale).astype(np.int64), n_in - 1)[:, None]
        weight = np.ones((n_out, 1))
    elif mode == "bilinear":
        x = np.maximum((dst + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(x.astype(np.int64), n_in - 1)
        lam = np.clip(x - i0, 0.0, 1.0)
        index = np.stack([i0, np.minimum(i0 + 1, n_in - 1)], axis=1)
        weight = np.stack([1.0 - lam, lam], axis=1)
    elif mode == "area":
        start = dst * n_in // n_out
        end = -((-(dst + 1) * n_in) // n_out)
        count = end - start
        k = np.arange(count.max())
        index = np.minimum(start[:, None] + k, end[:, None] - 1)
        weight = np.where(k < count[:, None], 1.0 / count[:, None], 0.0)
    else:
        raise InvalidArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    return index, weight


def _frozen(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@lru_cache(maxsize=256)
def tables(H: int, W: int, C: int, OH: int, OW: int, mode: str, chw: bool):
    """Index/weight tables of one resize, built once and cached.

    Rows: ``iy``/``wy`` ``(OH, taps)``. Columns are expanded per channel over one output row flattened as
    ``j = ox * C + c`` (HWC) or ``j = c * OW + ox`` (CHW): ``ix``/``wx`` ``(taps, C * OW)`` hold the element
    of the source row (``x * C + c``) and the weight of each tap. Indices are unsigned so that Numba emits
    no negative-index wraparound and LLVM can vectorise the gathers.
    """
    iy, wy = axis_table(H, OH, mode)
    x, w = axis_table(W, OW, mode)
    c = np.arange(C)
    if chw:
        ix = x.T[:, None, :] * C + c[None, :, None]  # (taps, C, OW)
        wx = np.broadcast_to(w.T[:, None, :], ix.shape)
    else:
        ix = x.T[:, :, None] * C + c[None, None, :]  # (taps, OW, C)
        wx = np.broadcast_to(w.T[:, :, None], ix.shape)
    taps = ix.shape[0]
    return _frozen(
        np.ascontiguousarray(iy, dtype=np.uint32),
        np.ascontiguousarray(wy, dtype=np.float32),
        np.ascontiguousarray(ix.reshape(taps, -1), dtype=np.uint32),
        np.ascontiguousarray(wx.reshape(taps, -1), dtype=np.float32),
    )


@kernel(inline=True)
def _store_row(out, n, oy, acc, chw, normalize):
    """Write one output row (``acc`` flattened as in :func:`tables`), rounded or divided by 255."""
    C = out.shape[1] if chw else out.shape[3]
    OW = out.shape[3] if chw else out.shape[2]
    for c in range(C if chw else 1):
        if chw:
            row = out[n, c, oy]
            a = acc[c * OW:]
            m = OW
        else:
            row = out[n, oy].reshape(-1)
            a = acc
            m = OW * C
        if normalize:  # the clamp keeps [0, 1] when float32 weights sum to a hair above 1
            for j in range(m):
                row[j] = min(a[j], np.float32(255.0)) / np.float32(255.0)
        else:
            for j in range(m):
                row[j] = np.int32(min(a[j] + np.float32(0.5), np.float32(255.0)))


@kernel(inline=True)
def _nearest_frame(src, start, rowlen, iy, ix, out, n, chw, normalize, acc):
    for oy in range(iy.shape[0]):
        srow = src[start + np.int64(iy[oy, 0]) * rowlen:]
        for j in range(acc.shape[0]):
            acc[j] = np.float32(srow[ix[0, j]])
        _store_row(out, n, oy, acc, chw, normalize)


@kernel(inline=True)
def _source_row(src, start, rowlen, y, ix, wx, frow, trow):
    """Source row ``y`` resized to OW (pass 1, along the row) into ``trow``, flattened as in :func:`tables`."""
    srow = src[start + y * rowlen:]
    for i in range(rowlen):
        frow[i] = np.float32(srow[i])
    for j in range(trow.shape[0]):
        trow[j] = wx[0, j] * frow[ix[0, j]]
    for k in range(1, ix.shape[0]):
        for j in range(trow.shape[0]):
            trow[j] += wx[k, j] * frow[ix[k, j]]


@kernel(inline=True)
def _separable_frame(src, start, rowlen, iy, wy, ix, wx, out, n, chw, normalize, frow, rows, cached, acc):
    # Output row by output row: pass 1 resizes each source row a tap uses (once: consecutive output rows share
    # at most their neighbour's last two, consecutive, rows, kept in the two slots of ``rows`` by parity); pass
    # 2 sums the taps down the column. Scratch is two rows, whatever the source's height.
    m = acc.shape[0]
    cached[0] = -1
    cached[1] = -1
    for oy in range(iy.shape[0]):
        first = True
        for k in range(iy.shape[1]):
            w = wy[oy, k]
            if w == 0:  # adds nothing (area's padding taps, bilinear on an exact source row)
                continue
            y = np.int64(iy[oy, k])
            slot = y & 1
            t = rows[slot]
            if cached[slot] != y:
                _source_row(src, start, rowlen, y, ix, wx, frow, t)
                cached[slot] = y
            if first:
                for j in range(m):
                    acc[j] = w * t[j]
                first = False
            else:
                for j in range(m):
                    acc[j] += w * t[j]
        _store_row(out, n, oy, acc, chw, normalize)


@kernel
def nearest_chunk(src, starts, H, W, C, iy, ix, out, chw, normalize, n0, n1):
    """Frames ``n0 .. n1 - 1`` (HWC uint8 at ``src[starts[n]:]``) -> ``out[n]``, one source pixel per output pixel."""
    acc = np.empty(ix.shape[1], np.float32)
    for n in range(n0, n1):
        _nearest_frame(src, starts[n], W * C, iy, ix, out, n, chw, normalize, acc)


@kernel
def separable_chunk(src, starts, H, W, C, iy, wy, ix, wx, out, chw, normalize, n0, n1):
    """Frames ``n0 .. n1 - 1`` -> ``out[n]`` through the tables of :func:`tables`, rows first, then columns."""
    m = ix.shape[1]
    frow = np.empty(W * C, np.float32)
    rows = np.empty((2, m), np.float32)
    cached = np.empty(2, np.int64)
    acc = np.empty(m, np.float32)
    for n in range(n0, n1):
        _separable_frame(src, starts[n], W * C, iy, wy, ix, wx, out, n, chw, normalize, frow, rows, cached, acc)


def nearest_serial(src, starts, H, W, C, iy, ix, out, chw, normalize):
    nearest_chunk(src, starts, H, W, C, iy, ix, out, chw, normalize, 0, starts.shape[0])


def separable_serial(src, starts, H, W, C, iy, wy, ix, wx, out, chw, normalize):
    separable_chunk(src, starts, H, W, C, iy, wy, ix, wx, out, chw, normalize, 0, starts.shape[0])


nearest_serial.py_func = lambda src, starts, *rest: nearest_chunk.py_func(src, starts, *rest, 0, starts.shape[0])
separable_serial.py_func = lambda src, starts, *rest: separable_chunk.py_func(src, starts, *rest, 0, starts.shape[0])
#: The same over every frame, the frames split over threads (:mod:`kinonb.kernels.threads`).
nearest_parallel = split_over_threads(nearest_chunk, count_arg=1)
separable_parallel = split_over_threads(separable_chunk, count_arg=1)


def resize_frames(src_flat_u8, frame_starts, H, W, C, out, mode, chw, normalize):
    """Resize the HWC uint8 frames starting at ``src_flat_u8[frame_starts[n]]`` into ``out``.

    ``out`` is C-contiguous ``(N, OH, OW, C)`` or, with ``chw``, ``(N, C, OH, OW)``; uint8, or float32 in
    [0, 1] when ``normalize``. The caller has checked that every frame lies inside ``src_flat_u8`` and the
    shapes.
    """
    OH, OW = (out.shape[2], out.shape[3]) if chw else (out.shape[1], out.shape[2])
    if mode not in MODES:
        raise InvalidArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    if OH == H and OW == W:
        mode = "nearest"  # every mode is the identity at the same size
    iy, wy, ix, wx = tables(H, W, C, OH, OW, mode, bool(chw))
    parallel = out.size >= PARALLEL_MIN_ELEMS and frame_starts.shape[0] > 1 and num_threads() > 1
    if mode == "nearest":
        fn = nearest_parallel if parallel else nearest_serial
        fn(src_flat_u8, frame_starts, H, W, C, iy, ix, out, chw, normalize)
    else:
        fn = separable_parallel if parallel else separable_serial
        fn(src_flat_u8, frame_starts, H, W, C, iy, wy, ix, wx, out, chw, normalize)
