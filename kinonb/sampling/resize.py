"""``kinonb.resize``: resize uint8 image frames, optionally to CHW float32 in [0, 1], in one compiled pass."""

from __future__ import annotations

import operator

import numpy as np

from ..kernels.resize import MODES, resize_frames

LAYOUTS = ("HWC", "CHW")


def _size(size):
    try:
        oh, ow = size
        oh, ow = operator.index(oh), operator.index(ow)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a pair of positive ints (height, width), got {size!r}") from None
    if isinstance(size[0], bool) or isinstance(size[1], bool) or oh <= 0 or ow <= 0:
        raise ValueError(f"size must be a pair of positive ints (height, width), got {size!r}")
    return oh, ow


def resize(frames, size, mode="bilinear", *, layout="HWC", normalize=False, out=None):
    """Resize ``frames``, uint8 ``(N, H, W, C)`` or ``(H, W, C)``, to ``size = (OH, OW)``.

    ``mode``: ``"nearest"``, ``"bilinear"`` (``align_corners=False``) or ``"area"``, matching
    ``torch.nn.functional.interpolate`` (see :mod:`kinonb.kernels.resize`). ``layout="CHW"`` puts channels
    first. ``normalize=True`` returns float32 in [0, 1], else uint8 (rounded). ``out``, when given, must be
    a C-contiguous writeable array of the result's shape and dtype; it is filled and returned.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be (N, H, W, C) or (H, W, C), got shape {frames.shape}")
    single = frames.ndim == 3
    batch = frames[None] if single else frames
    N, H, W, C = batch.shape
    if H == 0 or W == 0 or C == 0:
        raise ValueError(f"frames must have H, W, C >= 1, got shape {frames.shape}")
    oh, ow = _size(size)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    chw = layout == "CHW"
    shape = (N, C, oh, ow) if chw else (N, oh, ow, C)
    dtype = np.dtype(np.float32 if normalize else np.uint8)
    if out is None:
        result = np.empty(shape, dtype)
    else:
        want = shape[1:] if single else shape
        if not isinstance(out, np.ndarray) or out.shape != want or out.dtype != dtype:
            found = (out.shape, out.dtype) if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(f"out must be a {dtype} array of shape {want}, got {found}")
        if not (out.flags.c_contiguous and out.flags.writeable):
            raise ValueError("out must be C-contiguous and writeable")
        result = out[None] if single else out
    if N:
        src = np.ascontiguousarray(batch).reshape(-1)
        starts = np.arange(N, dtype=np.int64) * (H * W * C)
        resize_frames(src, starts, H, W, C, result, mode, chw, bool(normalize))
    if out is not None:
        return out
    return result[0] if single else result
