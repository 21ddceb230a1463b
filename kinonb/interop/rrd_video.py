"""Video cameras between kinonb (``EncodedVideo``: one packet a frame) and Rerun's ``VideoStream`` (a codec, one
sample a frame), without re-encoding either way.

Rerun wants H.264 / H.265 samples in Annex B (start codes, parameter sets in keyframes) and AV1 as low-overhead
OBUs with a sequence header in each keyframe (``rerun.components.VideoCodec``). kinonb's own encoder writes
Annex B; packets from an MP4 (a LeRobot ingest) are length-prefixed (AVCC) with the parameter sets in the
extradata, so H.264 is converted (the NAL units are copied behind start codes, SPS / PPS put before each
keyframe) and AV1 keyframes get the extradata's configuration OBUs. Other layouts return None: the caller logs
decoded images instead. From Rerun, keyframes come from ``VideoStream:is_keyframe`` when logged, else from
decoding the samples once (which also checks one frame per sample and gives the frame size).
"""

from __future__ import annotations

import fractions

import numpy as np

#: rerun.components.VideoCodec value (big-endian fourcc) <-> kinonb's codec name.
FOURCC = {0x61763031: "av1", 0x61766331: "h264", 0x68657631: "hevc", 0x76703038: "vp8", 0x76703039: "vp9"}
CODEC_FOURCC = {v: k for k, v in FOURCC.items()}
START = b"\x00\x00\x00\x01"
#: The largest frame (width x height) an ingest decodes: 8K x 8K.
MAX_DECODE_PIXELS = 1 << 26


def annex_b(data: bytes) -> bool:
    return data[:4] == START or data[:3] == b"\x00\x00\x01"


def rerun_samples(video) -> list[bytes] | None:
    """The packets of ``video`` (an EncodedVideo) as Rerun VideoStream samples, or None when they cannot be
    passed through."""
    packets = [bytes(p) for p in video.packets]
    if video.codec in ("vp8", "vp9"):
        return packets
    if video.codec == "av1":
        config = _av1_config_obus(bytes(video.extradata))
        if config is None:
            return packets
        return [config + p if key and not _has_sequence_header(p) else p
                for p, key in zip(packets, np.asarray(video.keyframe).tolist())]
    if video.codec in ("h264", "hevc") and all(annex_b(p) for p in packets):
        return packets
    if video.codec == "h264":
        params = _avcc_parameter_sets(bytes(video.extradata))
        if params is None:
            return None
        size, sets = params
        out = []
        for p, key in zip(packets, np.asarray(video.keyframe).tolist()):
            units = _length_prefixed(p, size)
            if units is None:
                return None
            out.append(b"".join(START + u for u in ((sets if key else []) + units)))
        return out
    return None


def _length_prefixed(data: bytes, size: int) -> list[bytes] | None:
    units, i = [], 0
    while i < len(data):
        if i + size > len(data):
            return None
        n = int.from_bytes(data[i : i + size], "big")
        i += size
        if n == 0 or i + n > len(data):
            return None
        units.append(data[i : i + n])
        i += n
    return units


def _avcc_parameter_sets(extra: bytes):
    """(NAL length size, [SPS..., PPS...]) from an avcC record, or None when ``extra`` is not one."""
    if len(extra) < 7 or extra[0] != 1:
        return None
    size, sets, i = (extra[4] & 3) + 1, [], 5
    for count_mask in (0x1F, 0xFF):
        if i >= len(extra):
            return None
        count, i = extra[i] & count_mask, i + 1
        for _ in range(count):
            if i + 2 > len(extra):
                return None
            n = int.from_bytes(extra[i : i + 2], "big")
            if i + 2 + n > len(extra):
                return None
            sets.append(extra[i + 2 : i + 2 + n])
            i += 2 + n
    return size, sets


def _av1_config_obus(extra: bytes) -> bytes | None:
    """The configOBUs of an av1C record (after its 4 fixed bytes), or None."""
    if len(extra) > 4 and extra[0] == 0x81:
        return extra[4:]
    return None


def _has_sequence_header(sample: bytes) -> bool:
    """Whether the first OBUs of an AV1 sample hold a sequence header (OBU type 1)."""
    i = 0
    while i < len(sample):
        header = sample[i]
        kind, has_ext, has_size = (header >> 3) & 0xF, bool(header & 4), bool(header & 2)
        if kind == 1:
            return True
        if not has_size:
            return False
        i += 1 + has_ext
        size, shift = 0, 0
        while i < len(sample):  # leb128
            byte = sample[i]
            size |= (byte & 0x7F) << shift
            i += 1
            shift += 7
            if not byte & 0x80:
                break
        i += size
    return False


def encoded_video(codec: str, samples: list[bytes], keyframes, pts: np.ndarray, time_base, *, decode=False):
    """``(EncodedVideo, None)`` of Rerun VideoStream samples, or ``(None, why)``: every sample decoded once (PyAV)
    for the frame size, one frame a sample and, when ``keyframes`` is None, which samples are keyframes.
    ``decode``: the decoded RGB frames (T, H, W, 3) uint8 instead of the EncodedVideo."""
    from ..codecs.encoded import EncodedVideo
    from ..codecs.video import av, open_decoder

    mod = av()
    ctx = open_decoder(mod, codec)
    if ctx is None:
        return None, f"this FFmpeg has no {codec} decoder"
    ctx.options = {"max_pixels": str(MAX_DECODE_PIXELS)}  # a sample's header cannot make the decoder allocate more
    decoded, pixels = [], []

    def take(frames):
        for f in frames:
            decoded.append((f.key_frame, f.width, f.height))
            if decode:
                pixels.append(f.to_ndarray(format="rgb24"))

    try:
        for sample in samples:
            take(ctx.decode(mod.Packet(sample)))
        take(ctx.decode(None))
    except mod.FFmpegError as e:
        return None, f"the {codec} samples do not decode ({e})"
    if len(decoded) != len(samples):
        return None, f"{len(samples)} samples decode to {len(decoded)} frames (one frame a sample needed)"
    if decode:
        if any(p.shape != pixels[0].shape for p in pixels):
            return None, "the frame size changes within the stream"
        return np.stack(pixels), None
    key = np.array([bool(k) for k, _, _ in decoded] if keyframes is None else keyframes, bool)
    video = EncodedVideo(codec, int(decoded[0][1]), int(decoded[0][2]), samples, np.asarray(pts, np.int64), key,
                         fractions.Fraction(time_base), b"")
    return video, None
