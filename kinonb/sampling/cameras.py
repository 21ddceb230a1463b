"""Batched reads of camera keys: the requested frames only, decoded and resized in compiled calls.

Raw cameras resize (or gather) straight from the file's map. Compressed cameras (lz4, jpeg, video) decode the
batch's distinct window frames once each, in parallel with the GIL released
(:func:`kinonb.codecs.frame_source.decode_camera_frames`: one decode per video GOP per batch), into one uint8
scratch; the resize / CHW / normalise kernel then reads that scratch, each window frame pointing at its decoded
copy.
"""

from __future__ import annotations

import numpy as np

from ..codecs.frame_source import decode_camera_frames
from ..kernels import gather_windows, resize_frames
from .images import ImageOptions
from .keys import Key
from .outputs import output_array


def window_frames(key: Key, sample_ep, sample_t):
    """``(frame, is_pad)``, each ``(B, W)``: the clamped frame each window entry reads, and which are padding."""
    frame = sample_t[:, None] + key.offsets[None, :]
    last = key.ep_len[sample_ep][:, None] - 1
    is_pad = (frame < 0) | (frame > last)
    np.clip(frame, 0, last, out=frame)
    return frame, is_pad


def decode_window_frames(key: Key, sample_ep, frame) -> tuple[np.ndarray, np.ndarray]:
    """``(scratch, inverse)``: the distinct frames of a compressed camera's windows decoded into one flat uint8
    buffer, and for each window entry (flattened ``B * W``) the row of its frame in that buffer."""
    blocks = key.blocks
    g = (blocks.frame_base[sample_ep][:, None] + frame).reshape(-1)
    uniq, inverse = np.unique(g, return_inverse=True)
    scratch = np.empty(len(uniq) * key.column.frame_nbytes, np.uint8)
    decode_camera_frames(blocks, uniq, scratch)
    return scratch, inverse.reshape(-1).astype(np.int64)


def read_camera(key: Key, sample_ep, sample_t, size, image: ImageOptions, given):
    """``(frames, is_pad)`` of camera ``key``: uint8 ``(B, W, H, W, C)``, or resized / CHW / normalised."""
    h, w_, c = key.column.shape
    b, w = len(sample_ep), len(key.offsets)
    frame, is_pad = window_frames(key, sample_ep, sample_t)
    nbytes = key.column.frame_nbytes
    blocks = key.blocks
    plain = size is None and not image.chw and not image.normalize
    oh, ow = (h, w_) if size is None else size
    shape = (b, w, c, oh, ow) if image.chw else (b, w, oh, ow, c)
    result = output_array(given, shape, np.float32 if image.normalize else np.uint8, f"out[{key.name!r}]")
    if b == 0:
        return result, is_pad
    if blocks.compressed:
        src, inverse = decode_window_frames(key, sample_ep, frame)
        if plain:
            np.take(src.reshape(-1, nbytes), inverse, axis=0, out=result.reshape(b * w, nbytes))
            return result, is_pad
        starts = inverse * nbytes
    else:
        src = blocks.buffer
        starts = (key.byte_starts[sample_ep][:, None] + frame * nbytes).reshape(-1)
        if plain:
            pad_scratch = np.empty((b, w), np.bool_)
            gather_windows(src, key.byte_starts, key.ep_len, nbytes, sample_ep, sample_t, key.offsets,
                           result.reshape(b, w, nbytes), pad_scratch)
            return result, is_pad
    resize_frames(src, starts, h, w_, c, result.reshape(b * w, *shape[2:]), image.mode, image.chw, image.normalize)
    return result, is_pad
