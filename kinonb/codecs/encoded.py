"""Pre-encoded camera input: frames a source already holds compressed, stored without re-encoding."""

from __future__ import annotations

import fractions
from dataclasses import dataclass, field

import numpy as np

from ..errors import SchemaError
from ..format import layout as L


@dataclass(frozen=True)
class EncodedVideo:
    """A camera's frames as one compressed video stream: ``add_episode(images={"front": EncodedVideo(...)})``.

    ``packets`` are in decode order, exactly one frame per packet; the first is a keyframe; GOPs are closed (no
    packet presents before the keyframe it follows). ``codec`` is an FFmpeg decoder name ("av1", "h264", ...).
    """

    codec: str
    width: int
    height: int
    packets: list
    pts: np.ndarray
    keyframe: np.ndarray
    time_base: fractions.Fraction
    extradata: bytes = b""
    channels: int = field(default=3, kw_only=True)  # 1: decoded as gray, 3: RGB

    @property
    def num_frames(self) -> int:
        return len(self.packets)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.packets), int(self.height), int(self.width), int(self.channels))

    def check(self, name: str) -> None:
        """Raise SchemaError when this cannot be a video block (§7.4): what the reader would refuse."""
        t = len(self.packets)
        if self.codec not in L.VIDEO_CODECS:
            raise SchemaError(f"{name}: video codec {self.codec!r}: expected one of {list(L.VIDEO_CODECS)}")
        _check_dims(name, self.height, self.width, self.channels)
        pts, key = np.asarray(self.pts), np.asarray(self.keyframe)
        if pts.shape != (t,) or key.shape != (t,) or pts.dtype.kind not in "iu" or key.dtype != bool:
            raise SchemaError(f"{name}: pts (int) and keyframe (bool) need one value per packet ({t})")
        if t == 0 or not key[0]:
            raise SchemaError(f"{name}: the first packet must be a keyframe (decoding starts there)")
        if any(not isinstance(p, (bytes, bytearray, memoryview)) or len(p) == 0 for p in self.packets):
            raise SchemaError(f"{name}: every packet must be non-empty bytes (one frame per packet)")
        if any(len(p) >= 1 << 32 for p in self.packets):
            raise SchemaError(f"{name}: a packet of 4 GiB or more")
        tb = fractions.Fraction(self.time_base)
        if tb <= 0 or tb.numerator >= 1 << 32 or tb.denominator >= 1 << 32:
            raise SchemaError(f"{name}: time_base {tb} must be > 0 with a 32-bit numerator and denominator")
        if len(np.unique(pts)) != t:
            raise SchemaError(f"{name}: pts must be distinct (exactly one frame per packet)")
        key_pts = np.maximum.accumulate(np.where(key, pts, np.iinfo(np.int64).min))
        if bool(np.any(pts < key_pts)):
            raise SchemaError(f"{name}: open GOP: a packet presents before the keyframe it follows; re-encode "
                              f"with closed GOPs")


@dataclass(frozen=True)
class EncodedJpeg:
    """A camera's frames as one JPEG each: ``add_episode(images={"front": EncodedJpeg(frames, h, w)})``."""

    frames: list
    height: int
    width: int
    channels: int = 3

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.frames), int(self.height), int(self.width), int(self.channels))

    def check(self, name: str) -> None:
        """Raise SchemaError when a frame is not a JPEG of this size (its header is read, nothing decoded)."""
        from .jpeg import header_problem

        _check_dims(name, self.height, self.width, self.channels)
        if not self.frames:
            raise SchemaError(f"{name}: no frames")
        for t, f in enumerate(self.frames):
            problem = header_problem(f, (int(self.height), int(self.width), int(self.channels)))
            if problem:
                raise SchemaError(f"{name}: frame {t}: {problem}")


def _check_dims(name, h, w, c) -> None:
    if not all(isinstance(v, (int, np.integer)) for v in (h, w, c)) or h <= 0 or w <= 0:
        raise SchemaError(f"{name}: height and width must be positive ints, got {h!r} x {w!r}")
    if c not in L.CODEC_CHANNELS:
        raise SchemaError(f"{name}: {c} channels; jpeg and video cameras hold 1 (gray) or 3 (RGB)")
