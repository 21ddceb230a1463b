"""Batched reads of camera keys: the requested frames only, decoded (lz4) and resized in compiled calls."""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFieldError
from ..kernels import gather_windows, resize_frames
from ..kernels.lz4 import decode_frames
from .images import ImageOptions
from .keys import Key
from .outputs import output_array


def read_camera(path: str, key: Key, sample_ep, sample_t, size, image: ImageOptions, given):
    """``(frames, is_pad)`` of camera ``key``: uint8 ``(B, W, H, W, C)``, or resized / CHW / normalised."""
    h, w_, c = key.column.shape
    b, w = len(sample_ep), len(key.offsets)
    frame = sample_t[:, None] + key.offsets[None, :]
    last = key.ep_len[sample_ep][:, None] - 1
    is_pad = (frame < 0) | (frame > last)
    np.clip(frame, 0, last, out=frame)
    nbytes = key.column.frame_nbytes
    blocks = key.blocks
    if blocks.compressed:  # decode only the requested frames
        g = (blocks.frame_base[sample_ep][:, None] + frame).reshape(-1)
        src = np.empty(b * w * nbytes, np.uint8)
        try:
            decode_frames(blocks.buffer, blocks.frame_offset[g], blocks.frame_length[g], nbytes, src)
        except ValueError as e:
            raise CorruptFieldError(path, None, f"lz4 frames of camera {key.name!r}", str(e)) from None
        starts = np.arange(b * w, dtype=np.int64) * nbytes
    else:
        src = blocks.buffer
        starts = (key.byte_starts[sample_ep][:, None] + frame * nbytes).reshape(-1)
    plain = size is None and not image.chw and not image.normalize
    oh, ow = (h, w_) if size is None else size
    shape = (b, w, c, oh, ow) if image.chw else (b, w, oh, ow, c)
    result = output_array(given, shape, np.float32 if image.normalize else np.uint8, f"out[{key.name!r}]")
    if plain and blocks.compressed:
        result.reshape(-1)[:] = src
    elif plain:
        flat_out = result.reshape(b, w, nbytes)
        pad_scratch = np.empty((b, w), np.bool_)
        gather_windows(src, key.byte_starts, key.ep_len, nbytes, sample_ep, sample_t, key.offsets,
                       flat_out, pad_scratch)
    else:
        resize_frames(src, starts, h, w_, c, result.reshape(b * w, *shape[2:]), image.mode, image.chw,
                      image.normalize)
    return result, is_pad
