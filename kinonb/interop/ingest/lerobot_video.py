"""A LeRobot video camera's packets for one episode, copied out of its mp4 (extra ``video``: PyAV), no re-encode.

v2.x keeps one mp4 per episode and camera: every packet of its video stream is the episode
(:func:`whole_file`). v3.0 packs many episodes into one mp4; meta/episodes gives each episode's
``videos/<camera>/from_timestamp`` and ``to_timestamp`` in it and :func:`cut` takes the frames whose
presentation time falls in ``[from, to)``:

- an episode that starts on a keyframe: its packets are copied, byte for byte;
- one that starts inside a GOP: the frames from its start to the next keyframe (its first, cut GOP) are decoded
  and re-encoded with an encoder of the same codec (the rest is copied), and :class:`Cut` says which frames were
  re-encoded; without such an encoder, or when the mixed stream does not decode back to the same number of frames,
  every frame of the episode is re-encoded (said the same way). Re-encoded frames are close to, not equal to,
  what LeRobot's decoder returns; copied ones are equal for the same decoder library.

Packet sizes and counts come from FFmpeg's demuxer, which checks them against the file; a stream with other
than one frame per packet (B-frame reordering whose pts leave decode order) is refused.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import numpy as np

from ...codecs.scheduling import scheduling_kept
from ...errors import SourceLayoutError
from . import require
from .cameras import encoded_types

#: The FFmpeg decoders tried for a codec, in order (FFmpeg's own "av1" decoder needs hardware).
DECODERS = {"av1": ("libdav1d", "libaom-av1", "av1")}
#: The encoder tried for a cut GOP, per codec.
ENCODERS = {"av1": ("libsvtav1", "libaom-av1"), "h264": ("libx264",), "hevc": ("libx265",), "mpeg4": ("mpeg4",),
            "vp9": ("libvpx-vp9",)}


@dataclass(frozen=True)
class Cut:
    """How an episode's frames were taken from a shared mp4: ``reencoded`` frames (from the episode's first) were
    re-encoded with ``encoder``; the others are the source's packets."""

    frames: int
    reencoded: int = 0
    encoder: str = ""

    def describe(self) -> str:
        if not self.reencoded:
            return f"{self.frames} frames copied"
        return (f"{self.reencoded} of {self.frames} frames re-encoded with {self.encoder} (the episode does not start"
                f" on a keyframe), {self.frames - self.reencoded} copied")


@dataclass
class Packets:
    """A video stream's packets in decode order, one frame each."""

    codec: str
    width: int
    height: int
    time_base: fractions.Fraction
    extradata: bytes
    data: list
    pts: np.ndarray
    keyframe: np.ndarray
    pix_fmt: str = "yuv420p"

    def take(self, a: int, b: int) -> Packets:
        return Packets(self.codec, self.width, self.height, self.time_base, self.extradata, self.data[a:b],
                       self.pts[a:b], self.keyframe[a:b], self.pix_fmt)

    def encoded(self):
        EncodedVideo, _ = encoded_types()
        return EncodedVideo(codec=self.codec, width=self.width, height=self.height, packets=list(self.data),
                            pts=np.asarray(self.pts, np.int64), keyframe=np.asarray(self.keyframe, bool),
                            time_base=self.time_base, extradata=self.extradata)


def read_packets(path) -> Packets:
    """Every packet of the first video stream of ``path``, in decode order."""
    av = require("av", "video", "LeRobot video ingest")
    try:
        container = av.open(str(path))
    except (OSError, av.FFmpegError) as e:
        raise SourceLayoutError(path, "an mp4 FFmpeg can open", str(e)) from None
    with container:
        if not container.streams.video:
            raise SourceLayoutError(path, "a video stream", "none")
        s = container.streams.video[0]
        cc = s.codec_context
        data, pts, key = [], [], []
        for p in container.demux(s):
            if p.size == 0:  # the demuxer's end-of-stream flush packet
                continue
            if p.pts is None:
                raise SourceLayoutError(path, "a pts on every packet", f"none on packet {len(data)}")
            data.append(bytes(p))
            pts.append(int(p.pts))
            key.append(bool(p.is_keyframe))
        out = Packets(cc.codec.canonical_name, int(cc.width), int(cc.height), fractions.Fraction(s.time_base),
                      bytes(cc.extradata or b""), data, np.array(pts, np.int64), np.array(key, bool),
                      str(cc.pix_fmt or "yuv420p"))
    if len(out.pts) and (np.diff(out.pts) <= 0).any():
        raise SourceLayoutError(path, "packets whose pts rise in decode order (one frame per packet, no B-frame "
                                "reordering)", "pts that do not")
    return out


def whole_file(path, frames: int | None = None) -> Packets:
    """A v2.x episode's video: every packet of ``path`` (``frames``: the episode's length, checked)."""
    p = read_packets(path)
    if frames is not None and len(p.data) != frames:
        raise SourceLayoutError(path, f"{frames} video frames (the episode's length)", f"{len(p.data)}")
    return p


def episode_range(p: Packets, from_ts: float, to_ts: float, fps: float) -> tuple[int, int]:
    """The packet range [a, b) whose times fall in [from_ts, to_ts) (half a frame of tolerance)."""
    half = 0.5 / fps if fps > 0 else 1e-6
    times = p.pts.astype(np.float64) * float(p.time_base)
    a = int(np.searchsorted(times, from_ts - half, side="left"))
    b = int(np.searchsorted(times, to_ts - half, side="left"))
    return a, b


def cut(p: Packets, from_ts: float, to_ts: float, fps: float, where, frames: int | None = None):
    """(Packets, Cut): a v3.0 episode's frames out of a shared file's packets (see the module docstring)."""
    a, b = episode_range(p, from_ts, to_ts, fps)
    if b <= a:
        raise SourceLayoutError(where, f"video frames in [{from_ts}, {to_ts}) s", "none")
    if frames is not None and b - a != frames:
        raise SourceLayoutError(where, f"{frames} video frames in [{from_ts}, {to_ts}) s (the episode's length)",
                                f"{b - a}")
    if p.keyframe[a]:
        return p.take(a, b), Cut(b - a)
    nxt = a + 1
    while nxt < b and not p.keyframe[nxt]:
        nxt += 1
    for stop in (nxt, b):  # first the cut GOP alone; if the mixed stream fails to decode, the whole episode
        head, encoder = reencode(p, a, stop, fps)
        if head is None:
            break
        if stop == b:
            return head, Cut(b - a, b - a, encoder)
        tail = p.take(stop, b)
        mixed = Packets(p.codec, p.width, p.height, p.time_base, p.extradata, head.data + tail.data,
                        np.concatenate([head.pts, tail.pts]), np.concatenate([head.keyframe, tail.keyframe]),
                        p.pix_fmt)
        if _decodes(mixed, b - a, stop - a, decode(tail.take(0, 1))[0]):
            return mixed, Cut(b - a, stop - a, encoder)
    raise SourceLayoutError(where, f"an FFmpeg encoder for {p.codec!r} (the episode starts inside a GOP and must "
                            "be re-encoded from its first frame to the next keyframe)", f"none of "
                            f"{ENCODERS.get(p.codec, ())} available")


def _decodes(p: Packets, frames: int, tail_at: int, tail_first: np.ndarray) -> bool:
    """Whether ``p`` decodes to ``frames`` frames, the copied part's first (at ``tail_at``) equal to the source's."""
    try:
        out = decode(p)
    except Exception:  # noqa: BLE001 - any decoder failure means the mixed stream is not usable
        return False
    return len(out) == frames and np.array_equal(out[tail_at], tail_first)


def decoder(codec: str):
    av = require("av", "video", "video decode")
    for name in DECODERS.get(codec, (codec,)):
        try:
            return av.CodecContext.create(name, "r")
        except (av.FFmpegError, ValueError, av.codec.codec.UnknownCodecError):
            continue
    raise SourceLayoutError(codec, "an FFmpeg decoder", f"none of {DECODERS.get(codec, (codec,))}")


def decode(p: Packets, first: int = 0) -> np.ndarray:
    """The frames of ``p`` as uint8 (T, H, W, 3) RGB, as PyAV decodes them (frames before ``first`` dropped)."""
    av = require("av", "video", "video decode")
    ctx = decoder(p.codec)
    if p.extradata:
        ctx.extradata = p.extradata
    out = []
    for data, pts in zip(p.data, p.pts):
        pkt = av.Packet(data)
        pkt.pts = pkt.dts = int(pts)
        pkt.time_base = p.time_base
        out.extend(f.to_ndarray(format="rgb24") for f in ctx.decode(pkt))
    out.extend(f.to_ndarray(format="rgb24") for f in ctx.decode(None))
    return np.stack(out[first:]) if len(out) > first else np.zeros((0, p.height, p.width, 3), np.uint8)


def reencode(p: Packets, a: int, stop: int, fps: float = 30.0):
    """(Packets of frames [a, stop) re-encoded, with the encoder's extradata; the encoder's name), or (None, "")
    without an encoder. Decoding starts at the keyframe at or before ``a``."""
    with scheduling_kept():
        return _reencode(p, a, stop, fps)


def _reencode(p: Packets, a: int, stop: int, fps: float):
    av = require("av", "video", "video encode")
    k = a
    while k > 0 and not p.keyframe[k]:
        k -= 1
    frames = decode(p.take(k, stop), first=a - k)
    for name in ENCODERS.get(p.codec, ()):
        try:
            enc = av.CodecContext.create(name, "w")
        except (av.FFmpegError, ValueError, av.codec.codec.UnknownCodecError):
            continue
        enc.width, enc.height, enc.pix_fmt, enc.time_base = p.width, p.height, p.pix_fmt, p.time_base
        enc.max_b_frames, enc.gop_size = 0, max(stop - a, 1)
        enc.framerate = fractions.Fraction(fps).limit_denominator(1001) if fps > 0 else fractions.Fraction(30)
        pkts = []
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=p.pix_fmt)
            f.pts, f.time_base = int(p.pts[a + i]), p.time_base
            pkts.extend(enc.encode(f))
        pkts.extend(enc.encode(None))
        pts = np.array([int(pk.pts) for pk in pkts], np.int64)
        if len(pkts) != stop - a or (np.diff(pts) <= 0).any():
            continue  # this encoder reorders or drops frames: not one frame per packet in decode order
        return Packets(p.codec, p.width, p.height, p.time_base, bytes(enc.extradata or b""), [bytes(pk) for pk in pkts], pts,
                       np.array([bool(pk.is_keyframe) for pk in pkts], bool), p.pix_fmt), name
    return None, ""
