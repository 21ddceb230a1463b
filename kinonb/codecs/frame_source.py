"""``decode_camera_frames``: the frames of a batch, from any camera codec, decoded in parallel into one buffer.

The sampling layer calls it with the :class:`~kinonb.protocol.ColumnBlocks` the reader handed out (every range
already checked) and the batch's global frame ids; the frames of one video GOP decode once per call, whatever
number of windows ask for them.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFieldError, InvalidArgumentError
from ..format import layout as L
from ..kernels.lz4 import decode_frames as lz4_decode_frames
from . import jpeg
from .decode_pool import decode_threads, run
from .registry import _guarded, decode_tasks


def decode_camera_frames(blocks, global_frame_ids, out: np.ndarray) -> np.ndarray:
    """Decode frames ``global_frame_ids`` (``k = blocks.frame_base[e] + t``) of a compressed camera into ``out``:
    uint8 of ``len(ids) * frame_nbytes`` elements (any shape; C-contiguous), frame ``i`` at row ``i``. Returns
    ``out`` viewed as (n, H, W, C). A frame whose bytes do not decode raises CorruptFieldError."""
    col = blocks.column
    ids = np.asarray(global_frame_ids, np.int64).reshape(-1)
    shape = col.shape
    if blocks.shapes is not None and len(np.unique(blocks.shapes, axis=0)) > 1:
        raise InvalidArgumentError(f"camera {col.name!r} has frames of several sizes in these episodes; decode "
                                   f"episodes of one size at a time")
    if blocks.shapes is not None and len(blocks.shapes):
        shape = tuple(int(d) for d in blocks.shapes[0])
    if not out.flags.c_contiguous or out.dtype != np.uint8 or out.size != len(ids) * int(np.prod(shape)):
        raise InvalidArgumentError(f"out must be C-contiguous uint8 with {len(ids)} x {int(np.prod(shape))} "
                                   f"elements, got {out.dtype} {out.shape}")
    frames = out.reshape(len(ids), *shape)
    if not len(ids):
        return frames
    total = int(blocks.frame_base[-1]) + _frames_of_last(blocks)
    if int(ids.min()) < 0 or int(ids.max()) >= total:
        raise InvalidArgumentError(f"frame ids must lie in [0, {total}) for camera {col.name!r}")

    def fail(message, e=None):
        where = "" if e is None or blocks.positions is None else f" of episode {int(blocks.positions[e])}"
        return CorruptFieldError(blocks.path or "<file>", None, f"{L.CODEC_NAMES[col.codec]} frames{where} "
                                 f"of camera {col.name!r} that decode to {shape}", message)

    if col.codec == L.CODEC_LZ4_FRAMES:
        try:
            lz4_decode_frames(blocks.buffer, blocks.frame_offset[ids], blocks.frame_length[ids],
                              int(np.prod(shape)), frames.reshape(-1))
        except ValueError as e:
            raise fail(str(e)) from None
    elif col.codec == L.CODEC_JPEG:
        parts = np.array_split(np.arange(len(ids)), min(len(ids), decode_threads()))
        run([_guarded(fail, jpeg.decode_frames, blocks.buffer, blocks.frame_offset[ids[k]],
                      blocks.frame_length[ids[k]], frames[k[0] : k[-1] + 1]) for k in parts if len(k)])
    elif col.codec == L.CODEC_VIDEO:
        run(_video_tasks(blocks, ids, frames, fail))
    else:
        raise InvalidArgumentError(f"camera {col.name!r} is not compressed (codec {L.CODEC_NAMES[col.codec]})")
    return frames


def _frames_of_last(blocks) -> int:
    if blocks.video is not None:
        return blocks.video[-1].num_frames
    return len(blocks.frame_offset) - int(blocks.frame_base[-1])


def _video_tasks(blocks, ids, frames, fail) -> list:
    episode = np.searchsorted(blocks.frame_base, ids, side="right") - 1
    tasks = []
    for e in np.unique(episode).tolist():
        slots = np.flatnonzero(episode == e)
        t = ids[slots] - int(blocks.frame_base[e])
        tasks += decode_tasks(L.CODEC_VIDEO, blocks.buffer, blocks.video[e], 0, t, frames,
                              lambda message, e=e: fail(message, e), slots)
    return tasks
