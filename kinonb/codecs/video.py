"""Video camera blocks (format_spec.md §7.4): encoded with PyAV's FFmpeg, decoded from the nearest keyframe.

PyAV is the optional extra ``kinonb[video]``, imported the first time a video camera is written or read. A
block's packets are fed to a decoder straight from the map (no container is parsed per read). The decoder is
opened with ``max_pixels`` bounding the picture it may allocate to about the block's declared size, and every
frame it returns is checked against that size before a byte is copied.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction

import numpy as np

from ..errors import ImageDecodeError, MissingExtraError, SchemaError
from .encoded import EncodedVideo
from .scheduling import scheduling_kept

#: Decoder used for each stored codec name (FFmpeg's own av1 decoder needs hardware; dav1d decodes in software).
DECODERS = {"av1": ("libdav1d", "av1")}
#: Encoder tried for each ``video_codec=`` the writer accepts, and the decoder name stored for it.
ENCODERS = {"h264": ("libx264", "h264"), "hevc": ("libx265", "hevc"), "av1": ("libsvtav1", "av1"),
            "vp9": ("libvpx-vp9", "vp9")}
OUTPUT = {1: "gray", 3: "rgb24"}
#: Slack around the declared picture a decoder may allocate (codecs pad pictures to macroblocks and edges).
PIXEL_SLACK = 256
_contexts: dict = {}  # (thread id, codec, extradata, w, h) -> an opened decoder; cleared in a forked child
_lock = threading.Lock()


def av():
    try:
        import av as module
    except ImportError as e:
        raise MissingExtraError("video cameras need PyAV: pip install 'kinonb[video]' (or pip install av)") from e
    module.logging.set_level(module.logging.ERROR)
    return module


def _forget_contexts() -> None:
    _contexts.clear()  # decoders are never shared with a forked child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_contexts)


# -- encoding ------------------------------------------------------------------------------------------------

def encode(frames: np.ndarray, codec: str = "h264", crf: int = 23, gop: int = 30, fps: float = 30.0) -> EncodedVideo:
    """Encode (T, H, W, C) uint8 frames (C = 1 or 3) into one video stream with closed GOPs of ``gop`` frames."""
    with scheduling_kept():
        return _encode(frames, codec, crf, gop, fps)


def _encode(frames: np.ndarray, codec: str, crf: int, gop: int, fps: float) -> EncodedVideo:
    mod = av()
    if codec not in ENCODERS:
        raise SchemaError(f"video_codec {codec!r}: expected one of {sorted(ENCODERS)}")
    encoder, stored = ENCODERS[codec]
    t, h, w, c = frames.shape
    try:
        ctx = mod.CodecContext.create(encoder, "w")
    except (ValueError, mod.FFmpegError) as e:
        raise SchemaError(f"video_codec {codec!r}: this FFmpeg has no {encoder} encoder ({e})") from None
    ctx.width, ctx.height = w, h
    ctx.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
    ctx.time_base = Fraction(1, max(1, round(fps)) if fps else 30)
    ctx.gop_size = int(gop)
    opts = {"crf": str(int(crf))}
    if encoder == "libx264" or encoder == "libx265":
        opts.update(preset="veryfast", **({"x264-params": "open-gop=0"} if encoder == "libx264" else {}))
    ctx.options = opts
    packets = []
    source = "gray" if c == 1 else "rgb24"
    for i in range(t):
        frame = mod.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i, :, :, 0] if c == 1 else frames[i]),
                                            format=source).reformat(format=ctx.pix_fmt)
        frame.pts = i
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    if len(packets) != t:
        raise SchemaError(f"{encoder} made {len(packets)} packets of {t} frames (one frame per packet needed)")
    return EncodedVideo(stored, w, h, [bytes(p) for p in packets], np.array([p.pts for p in packets], np.int64),
                        np.array([p.is_keyframe for p in packets], bool), ctx.time_base,
                        bytes(ctx.extradata or b""), channels=c)


# -- decoding ------------------------------------------------------------------------------------------------

def open_decoder(mod, codec: str):
    """A new PyAV decoder context for ``codec`` (the first of DECODERS' names this FFmpeg has), or None."""
    for name in DECODERS.get(codec, (codec,)):
        try:
            return mod.CodecContext.create(name, "r")
        except (ValueError, mod.FFmpegError):
            continue
    return None


def _decoder(mod, table):
    key = (threading.get_ident(), table.codec, table.extradata, table.width, table.height)
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = open_decoder(mod, table.codec)
        if ctx is None:
            names = list(DECODERS.get(table.codec, (table.codec,)))
            raise ImageDecodeError(f"this FFmpeg has no decoder for {table.codec!r} (tried {names})")
        if table.extradata:
            ctx.extradata = table.extradata
        ctx.thread_count = 1  # the decode pool runs GOPs in parallel
        ctx.options = {"max_pixels": str((table.width + PIXEL_SLACK) * (table.height + PIXEL_SLACK))}
        with _lock:
            _contexts[key] = ctx
    return ctx


def decode_gop(buf: np.ndarray, table, key: int, frames: np.ndarray, out: np.ndarray) -> None:
    """Decode frames ``frames`` (presentation indices, all of the GOP starting at packet ``key``) of a checked
    ``VideoTable`` into ``out[k]`` (H, W, C) each: packets ``key`` .. the last one needed, then the decoder is
    drained. ImageDecodeError when the stream does not yield exactly those frames at the declared size."""
    mod = av()
    ctx = _decoder(mod, table)
    packets = table.packet_of_frame[frames]
    wanted: dict[int, list[int]] = {}
    for k, p in enumerate(packets.tolist()):
        wanted.setdefault(int(table.pts[p]), []).append(k)
    fmt = OUTPUT[out.shape[-1]]
    asked, done = len(wanted), 0
    try:
        ctx.flush_buffers()
        for p in range(key, int(packets.max()) + 1):
            o = int(table.offset[p])
            packet = mod.Packet(buf[o : o + int(table.length[p])])
            packet.pts = int(table.pts[p])
            done += _take(ctx.decode(packet), wanted, table, fmt, out)
        done += _take(ctx.decode(None), wanted, table, fmt, out)
    except (mod.FFmpegError, ValueError, EOFError) as e:
        ctx.flush_buffers()
        raise ImageDecodeError(f"{table.codec} packets {key}..{int(packets.max())} do not decode ({e})") from None
    if done != asked:
        raise ImageDecodeError(f"{table.codec} decoder returned {done} of the {asked} frames asked for "
                               f"from keyframe packet {key}")


def _take(decoded, wanted, table, fmt, out) -> int:
    got = 0
    for frame in decoded:
        if frame.width != table.width or frame.height != table.height:
            raise ImageDecodeError(f"a decoded frame of {frame.width}x{frame.height}, the block declares "
                                   f"{table.width}x{table.height}")
        slots = wanted.pop(frame.pts, None)  # popped: a repeated pts is not counted twice
        if slots is None:
            continue
        image = frame.to_ndarray(format=fmt)
        for k in slots:
            out[k].reshape(image.shape)[...] = image
        got += 1
    return got
