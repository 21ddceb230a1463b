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

from ..jit import JIT_ENABLED, kernel, prange

MODES = ("nearest", "bilinear", "area")

# Output elements (N * OH * OW * C) from which the prange variants win; measured with bench/bench_kernels.py.
PARALLEL_MIN_ELEMS = 1 << 17


@lru_cache(maxsize=256)
def nearest_table(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output index along one axis."""
    if n_in == n_out:
        idx = np.arange(n_out, dtype=np.int64)
    else:
        scale = np.float32(n_in) / np.float32(n_out)
        idx = np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64)
        np.minimum(idx, n_in - 1, out=idx)
    idx.flags.writeable = False
    return idx


@lru_cache(maxsize=256)
def filter_table(n_in: int, n_out: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(index, weight)``, each ``(n_out, taps)``: output ``i`` is ``sum_k weight[i, k] * in[index[i, k]]``."""
    dst = np.arange(n_out, dtype=np.int64)
    if mode == "bilinear":
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
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    index = np.ascontiguousarray(index, dtype=np.int64)
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    index.flags.writeable = weight.flags.writeable = False
    return index, weight


@kernel
def _store(out, n, c, oy, ox, v, chw, normalize):
    if normalize:
        v = v / np.float32(255.0)
    else:
        v = min(v + np.float32(0.5), np.float32(255.0))
    if chw:
        out[n, c, oy, ox] = v
    else:
        out[n, oy, ox, c] = v


@kernel
def _nearest_frame(src, start, W, C, iy, ix, out, n, chw, normalize):
    for oy in range(iy.shape[0]):
        row = start + iy[oy] * W * C
        for ox in range(ix.shape[0]):
            p = row + ix[ox] * C
            for c in range(C):
                v = src[p + c]
                if not normalize:
                    if chw:
                        out[n, c, oy, ox] = v
                    else:
                        out[n, oy, ox, c] = v
                elif chw:
                    out[n, c, oy, ox] = np.float32(v) / np.float32(255.0)
                else:
                    out[n, oy, ox, c] = np.float32(v) / np.float32(255.0)


@kernel
def nearest_serial(src, starts, H, W, C, iy, ix, out, chw, normalize):
    """Frame ``n`` (HWC uint8 at ``src[starts[n]:]``) -> ``out[n]`` by nearest source index tables."""
    for n in range(starts.shape[0]):
        _nearest_frame(src, starts[n], W, C, iy, ix, out, n, chw, normalize)


@kernel(parallel=True)
def nearest_parallel(src, starts, H, W, C, iy, ix, out, chw, normalize):
    """:func:`nearest_serial` with frames spread over Numba's threads."""
    for n in prange(starts.shape[0]):
        _nearest_frame(src, starts[n], W, C, iy, ix, out, n, chw, normalize)


@kernel
def _separable_frame(src, start, H, W, C, iy, wy, ix, wx, out, n, chw, normalize, tmp, acc):
    # Pass 1, along rows: tmp holds every source row resized to OW, as (H, OW*C) or, for CHW, (C*H, OW).
    OW = ix.shape[0]
    for y in range(H):
        row = start + y * W * C
        for ox in range(OW):
            for c in range(C):
                v = np.float32(0.0)
                for k in range(ix.shape[1]):
                    v += wx[ox, k] * np.float32(src[row + ix[ox, k] * C + c])
                if chw:
                    tmp[c * H + y, ox] = v
                else:
                    tmp[y, ox * C + c] = v
    # Pass 2, along columns: acc is one output row, an axpy per tap so that LLVM vectorises it.
    planes = C if chw else 1
    m = tmp.shape[1]
    for p in range(planes):
        for oy in range(iy.shape[0]):
            for j in range(m):
                acc[j] = np.float32(0.0)
            for k in range(iy.shape[1]):
                w = wy[oy, k]
                r = p * H + iy[oy, k]
                for j in range(m):
                    acc[j] += w * tmp[r, j]
            if chw:
                for ox in range(OW):
                    _store(out, n, p, oy, ox, acc[ox], chw, normalize)
            else:
                for ox in range(OW):
                    for c in range(C):
                        _store(out, n, c, oy, ox, acc[ox * C + c], chw, normalize)


@kernel
def separable_serial(src, starts, H, W, C, iy, wy, ix, wx, out, chw, normalize):
    """Frame ``n`` -> ``out[n]`` through the filter tables ``(iy, wy)`` and ``(ix, wx)`` of :func:`filter_table`."""
    OW = ix.shape[0]
    if chw:
        tmp = np.empty((C * H, OW), np.float32)
    else:
        tmp = np.empty((H, OW * C), np.float32)
    acc = np.empty(tmp.shape[1], np.float32)
    for n in range(starts.shape[0]):
        _separable_frame(src, starts[n], H, W, C, iy, wy, ix, wx, out, n, chw, normalize, tmp, acc)


@kernel(parallel=True)
def separable_parallel(src, starts, H, W, C, iy, wy, ix, wx, out, chw, normalize):
    """:func:`separable_serial` with frames spread over Numba's threads (scratch rows per frame)."""
    OW = ix.shape[0]
    rows = C * H if chw else H
    cols = OW if chw else OW * C
    for n in prange(starts.shape[0]):
        tmp = np.empty((rows, cols), np.float32)
        acc = np.empty(cols, np.float32)
        _separable_frame(src, starts[n], H, W, C, iy, wy, ix, wx, out, n, chw, normalize, tmp, acc)


def _threads() -> int:
    if not JIT_ENABLED:
        return 1
    import numba

    return numba.get_num_threads()


def resize_frames(src_flat_u8, frame_starts, H, W, C, out, mode, chw, normalize):
    """Resize the HWC uint8 frames starting at ``src_flat_u8[frame_starts[n]]`` into ``out``.

    ``out`` is ``(N, OH, OW, C)`` or, with ``chw``, ``(N, C, OH, OW)``; uint8, or float32 in [0, 1] when
    ``normalize``. The caller has checked that every frame lies inside ``src_flat_u8`` and the shapes.
    """
    OH, OW = (out.shape[2], out.shape[3]) if chw else (out.shape[1], out.shape[2])
    args = (src_flat_u8, frame_starts, H, W, C)
    parallel = out.size >= PARALLEL_MIN_ELEMS and frame_starts.shape[0] > 1 and _threads() > 1
    if mode == "nearest" or (OH == H and OW == W):
        fn = nearest_parallel if parallel else nearest_serial
        fn(*args, nearest_table(H, OH), nearest_table(W, OW), out, chw, normalize)
    else:
        iy, wy = filter_table(H, OH, mode)
        ix, wx = filter_table(W, OW, mode)
        fn = separable_parallel if parallel else separable_serial
        fn(*args, iy, wy, ix, wx, out, chw, normalize)
