"""One entry point per direction for every camera codec: encode a block, check its table, decode frames of it,
hand out its stored bytes. The writer, the reader and the batch decoder call these, never a codec module."""

from __future__ import annotations

import numpy as np

from ..errors import ImageDecodeError, SchemaError
from ..format import codec_blocks as B
from ..format import layout as L
from ..format.frame_codec import encode_frames, frame_table_problem
from ..kernels.lz4 import decode_frames as lz4_decode_frames
from . import jpeg, video
from .decode_pool import decode_threads
from .encoded import EncodedJpeg, EncodedVideo

ENCODED = {L.CODEC_JPEG: EncodedJpeg, L.CODEC_VIDEO: EncodedVideo}


def codec_of_input(value) -> int | None:
    """The codec a pre-encoded camera input needs (None for an array)."""
    return next((codec for codec, kind in ENCODED.items() if isinstance(value, kind)), None)


def encode_block(codec: int, value, frame_nbytes: int, options: dict) -> list:
    """The pieces of one camera block in ``codec`` for ``value``: a (T, H, W, C) uint8 array, or the codec's
    pre-encoded input (stored as given). ``options``: jpeg_quality, video_codec, video_crf, video_gop."""
    if codec == L.CODEC_RAW:
        return [memoryview(value.reshape(-1).view(np.uint8)) if value.size else b""]
    if codec == L.CODEC_LZ4_FRAMES:
        return encode_frames(value)
    if codec == L.CODEC_JPEG:
        frames = value.frames if isinstance(value, EncodedJpeg) else jpeg.encode(value, options["jpeg_quality"])
        return B.encode_jpeg_block([bytes(f) for f in frames], frame_nbytes)
    v = value if isinstance(value, EncodedVideo) else video.encode(
        value, options["video_codec"], options["video_crf"], options["video_gop"])
    return B.encode_video_block(v.codec, int(v.width), int(v.height), v.time_base, bytes(v.extradata),
                                [bytes(p) for p in v.packets], np.asarray(v.pts, np.int64),
                                np.asarray(v.keyframe, bool), frame_nbytes)


def check_input(codec: int, name: str, value) -> None:
    """SchemaError unless ``value`` can be stored in a ``codec`` camera."""
    kind = codec_of_input(value)
    if kind is not None and kind != codec:
        raise SchemaError(f"{name}: a {type(value).__name__} goes into a {L.CODEC_NAMES[kind]} camera, and this "
                          f"camera is {L.CODEC_NAMES[codec]} (its codec is fixed when the column is created)")
    if kind is not None:
        value.check(name)


def block_table(codec: int, buf: np.ndarray, off: int, nbytes: int, num_frames: int, shape: tuple[int, ...]):
    """The checked table of a compressed camera block: ``(table, None)`` or ``(None, (rel offset, expected,
    found))``. lz4 and jpeg: the frame offsets (<u8, T+1, relative); video: a ``VideoTable``."""
    frame_nbytes = int(np.prod(shape, dtype=np.uint64))
    if codec == L.CODEC_VIDEO:
        return B.video_table(buf, off, nbytes, num_frames, shape)
    # A copy (8 bytes a frame, cached by the index): a remote reader's block cache may give the block's bytes back.
    table = buf[off : off + 8 * (num_frames + 1)].view("<u8").copy()
    if codec == L.CODEC_LZ4_FRAMES:
        problem = frame_table_problem(table, num_frames, nbytes, frame_nbytes)
    else:
        problem = B.jpeg_table_problem(table, num_frames, nbytes, frame_nbytes)
    name = L.CODEC_NAMES[codec]
    return (table, None) if problem is None else (None, (0, f"{name} frame table with {problem}", table[:4].tolist()))


def decode_tasks(codec: int, buf: np.ndarray, table, off: int, ids: np.ndarray, out: np.ndarray, fail,
                 slots: np.ndarray | None = None) -> list:
    """Callables that decode frames ``ids`` (presentation order) of one block into ``out[k]`` (H, W, C) each
    (video: into ``out[slots[k]]`` when ``slots`` is given); ``fail(message)`` makes the exception a task raises
    for bytes that do not decode."""
    ids = np.asarray(ids, np.int64)
    if codec == L.CODEC_LZ4_FRAMES:
        def lz4():
            starts = table[ids].astype(np.int64) + off
            try:
                lz4_decode_frames(buf, starts, table[ids + 1].astype(np.int64) + off - starts,
                                  out[0].size if len(ids) else 0, out.reshape(-1))
            except ValueError as e:
                raise fail(str(e)) from None
        return [lz4]
    if codec == L.CODEC_JPEG:
        starts = table[ids].astype(np.int64) + off
        lengths = table[ids + 1].astype(np.int64) + off - starts
        parts = np.array_split(np.arange(len(ids)), max(1, min(len(ids), decode_threads())))
        return [_guarded(fail, jpeg.decode_frames, buf, starts[k], lengths[k], out[k[0] : k[-1] + 1])
                for k in parts if len(k)]
    key = table.key_of_packet[table.packet_of_frame[ids]]
    where = np.arange(len(ids)) if slots is None else np.asarray(slots, np.int64)
    tasks = []
    for start in np.unique(key).tolist():  # one decode per GOP, however many of its frames are asked for
        mine = np.flatnonzero(key == start)
        tasks.append(_guarded(fail, _video_group, buf, table, start, ids[mine], out, where[mine]))
    return tasks


def _video_group(buf, table, start, frames, out, slots):
    if slots[-1] - slots[0] + 1 == len(slots):  # consecutive slots (a window): decode straight into them
        video.decode_gop(buf, table, start, frames, out[slots[0] : slots[-1] + 1])
        return
    scratch = np.empty((len(slots), *out.shape[1:]), np.uint8)
    video.decode_gop(buf, table, start, frames, scratch)
    out[slots] = scratch


def _guarded(fail, fn, *args):
    def task():
        try:
            fn(*args)
        except ImageDecodeError as e:
            raise fail(str(e)) from None
    return task


def stored_frames(codec: int, buf: np.ndarray, table, off: int, shape: tuple[int, ...]):
    """The stored bytes of a compressed camera block, for re-export without decoding: a list of lz4 frames, an
    ``EncodedJpeg`` or an ``EncodedVideo`` (bytes copied out of the map)."""
    if codec == L.CODEC_VIDEO:
        packets = [bytes(buf[o : o + n]) for o, n in zip(table.offset.tolist(), table.length.tolist())]
        return EncodedVideo(table.codec, table.width, table.height, packets, table.pts.copy(), table.keyframe.copy(),
                            table.time_base, table.extradata, channels=shape[2])
    frames = [bytes(buf[off + int(a) : off + int(b)]) for a, b in zip(table[:-1], table[1:])]
    return EncodedJpeg(frames, shape[0], shape[1], shape[2]) if codec == L.CODEC_JPEG else frames
