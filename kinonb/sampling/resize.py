"""``kinonb.resize``: resize uint8 image frames, optionally to CHW float32 in [0, 1], in one compiled pass."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from ..kernels.resize import resize_frames
from .images import check_layout, check_mode, size_pair
from .outputs import output_array


def resize(frames, size, mode="bilinear", *, layout="HWC", normalize=False, out=None):
    """Resize ``frames``, uint8 ``(N, H, W, C)`` or ``(H, W, C)``, to ``size = (OH, OW)``.

    ``mode``: ``"nearest"``, ``"bilinear"`` (``align_corners=False``) or ``"area"``, matching
    ``torch.nn.functional.interpolate`` (see :mod:`kinonb.kernels.resize`). ``layout="CHW"`` puts channels
    first. ``normalize=True`` returns float32 in [0, 1], else uint8 (rounded). ``out``, when given, must be
    a C-contiguous writeable array of the result's shape and dtype; it is filled and returned.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise InvalidArgumentError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim not in (3, 4):
        raise InvalidArgumentError(f"frames must be (N, H, W, C) or (H, W, C), got shape {frames.shape}")
    single = frames.ndim == 3
    batch = frames[None] if single else frames
    N, H, W, C = batch.shape
    if H == 0 or W == 0 or C == 0:
        raise InvalidArgumentError(f"frames must have H, W, C >= 1, got shape {frames.shape}")
    oh, ow = size_pair(size, "size")
    check_mode(mode)
    check_layout(layout)
    chw = layout == "CHW"
    shape = (N, C, oh, ow) if chw else (N, oh, ow, C)
    dtype = np.dtype(np.float32 if normalize else np.uint8)
    want = shape[1:] if single else shape
    given = output_array(out, want, dtype, "out") if out is not None else None
    result = np.empty(shape, dtype) if given is None else (given[None] if single else given)
    if N:
        src = np.ascontiguousarray(batch).reshape(-1)
        starts = np.arange(N, dtype=np.int64) * (H * W * C)
        resize_frames(src, starts, H, W, C, result, mode, chw, bool(normalize))
    if out is not None:
        return out
    return result[0] if single else result
