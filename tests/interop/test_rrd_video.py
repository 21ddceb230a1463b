"""Video packets as Rerun VideoStream samples (kinonb/interop/rrd_video.py): MP4-style H.264 (length-prefixed,
parameter sets in an avcC record) becomes Annex B that decodes to the same frames; AV1 keyframes get the av1C
configuration OBUs; anything it cannot convert is refused (None), never passed on broken."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kinonb.codecs.encoded import EncodedVideo
from kinonb.interop.rrd_video import _has_sequence_header, annex_b, rerun_samples

av = pytest.importorskip("av")


def _units(packet: bytes) -> list[bytes]:
    return [u for u in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", packet) if u]


def _as_avcc(video: EncodedVideo) -> EncodedVideo:
    """The same stream as an MP4 holds it: SPS / PPS in an avcC record, NAL units behind 4-byte lengths."""
    units = [_units(p) for p in video.packets]
    sps = next(u for us in units for u in us if u[0] & 0x1F == 7)
    pps = next(u for us in units for u in us if u[0] & 0x1F == 8)
    avcc = bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps + bytes([1]) + \
        len(pps).to_bytes(2, "big") + pps
    packets = [b"".join(len(u).to_bytes(4, "big") + u for u in us if u[0] & 0x1F not in (7, 8)) for us in units]
    return EncodedVideo("h264", video.width, video.height, packets, video.pts, video.keyframe, video.time_base, avcc)


def _decode(samples) -> list[np.ndarray]:
    ctx = av.CodecContext.create("h264", "r")
    out = []
    for s in samples:
        out += [f.to_ndarray(format="rgb24") for f in ctx.decode(av.Packet(s))]
    return out + [f.to_ndarray(format="rgb24") for f in ctx.decode(None)]


def test_mp4_h264_becomes_annex_b_that_decodes_the_same():
    from kinonb.codecs.video import encode

    frames = np.linspace(0, 255, 8 * 16 * 16 * 3).reshape(8, 16, 16, 3).astype(np.uint8)
    annexb = encode(frames, "h264", gop=4, fps=10)
    assert rerun_samples(annexb) == [bytes(p) for p in annexb.packets]  # already Annex B: as is
    avcc = _as_avcc(annexb)
    assert not any(annex_b(p) for p in avcc.packets)
    samples = rerun_samples(avcc)
    assert all(annex_b(s) for s in samples)
    for s, key in zip(samples, avcc.keyframe):
        kinds = [u[0] & 0x1F for u in _units(s)]
        assert (7 in kinds and 8 in kinds) == bool(key)  # SPS and PPS before every keyframe, only there
    want = _decode(annexb.packets)
    assert all(np.array_equal(a, b) for a, b in zip(_decode(samples), want)) and len(want) == 8


def test_what_cannot_be_converted_is_refused():
    base = dict(width=16, height=16, pts=np.arange(2), keyframe=np.array([True, False]), time_base=1)
    assert rerun_samples(EncodedVideo("h264", packets=[b"\x00\x00\x00\x09abc", b"x"], extradata=b"", **base)) is None
    bad_avcc = bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 4, 0x67])  # an SPS length past the record's end
    assert rerun_samples(EncodedVideo("h264", packets=[b"\x00\x00\x00\x02ab"] * 2, extradata=bad_avcc,
                                      **base)) is None
    assert rerun_samples(EncodedVideo("hevc", packets=[b"\x00\x00\x00\x02ab"] * 2, extradata=b"\x01", **base)) is None


def test_av1_keyframes_get_the_configuration_obus():
    seq = bytes([0x0A, 0x02, 0xAA, 0xBB])  # a sequence header OBU (type 1, with a size)
    frame = bytes([0x32, 0x01, 0xCC])  # a frame OBU (type 6)
    av1c = bytes([0x81, 0, 0, 0]) + seq
    video = EncodedVideo("av1", 16, 16, [frame, frame], np.arange(2), np.array([True, False]), 1, av1c)
    assert rerun_samples(video) == [seq + frame, frame]
    assert _has_sequence_header(seq + frame) and not _has_sequence_header(frame)
