"""Cameras an ingest keeps encoded: JPEG bytes as they are (``EncodedJpeg``), or decoded when the user prefers
another codec (``transcode=``: ``"jpeg"``, ``"lz4"`` or ``"raw"``; the CLI's ``--transcode``).

Keeping the source's bytes is the default: an RLDS JPEG camera is stored as its JPEG frames and a LeRobot video
camera as its video packets (:mod:`.lerobot_video`); ``transcode`` decodes every frame and stores it through the
writer's ``compression=`` instead (JPEG at the writer's quality, lz4, or raw bytes), for fast random access.
"""

from __future__ import annotations

from ...errors import InvalidArgumentError, SourceLayoutError

TRANSCODE = ("jpeg", "lz4", "raw")
#: The writer's camera compression for each transcode choice.
COMPRESSION = {"jpeg": "jpeg", "lz4": "lz4", "raw": None}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def encoded_types():
    """(EncodedVideo, EncodedJpeg): the writer's pre-encoded camera inputs (kinonb/codecs/encoded.py)."""
    from ...codecs.encoded import EncodedJpeg, EncodedVideo  # the codec layer (issue 14)

    return EncodedVideo, EncodedJpeg


def check_transcode(transcode, compression):
    """The writer's ``compression`` for an ingest with ``transcode`` (None: keep the source's bytes)."""
    if transcode is None:
        return compression
    if transcode not in TRANSCODE:
        raise InvalidArgumentError(f"transcode must be None or one of {TRANSCODE}, got {transcode!r}")
    return COMPRESSION[transcode]


def jpeg_size(data) -> tuple[int, int, int]:
    """(height, width, channels) from a JPEG's start-of-frame marker; ValueError when there is none. Every segment
    length is checked against the payload's size before it is followed."""
    b = bytes(data)
    if b[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start-of-image marker")
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        marker, length = b[i + 1], int.from_bytes(b[i + 2:i + 4], "big")
        if length < 2 or i + 2 + length > len(b):
            raise ValueError(f"JPEG segment at byte {i} runs past the end ({length} bytes, {len(b)} in all)")
        if marker in _SOF:
            if length < 8:
                raise ValueError(f"JPEG start-of-frame segment of {length} bytes")
            h, w = int.from_bytes(b[i + 5:i + 7], "big"), int.from_bytes(b[i + 7:i + 9], "big")
            return h, w, b[i + 9]
        i += 2 + length
    raise ValueError("no JPEG start-of-frame marker")


def encoded_jpeg(values, shape, what: str, where):
    """``EncodedJpeg`` of the frames ``values`` (JPEG bytes, one per frame), each checked to be a JPEG of ``shape``
    (H, W, C; None: the first frame's)."""
    _, EncodedJpeg = encoded_types()
    frames = [bytes(v) for v in values]
    for t, data in enumerate(frames):
        try:
            size = jpeg_size(data)
        except ValueError as e:
            raise SourceLayoutError(where, f"a JPEG image in {what} frame {t}", str(e)) from None
        shape = tuple(shape or size)
        if size != tuple(shape):
            raise SourceLayoutError(where, f"a {shape[0]}x{shape[1]}x{shape[2]} JPEG in {what} frame {t}",
                                    f"{size[0]}x{size[1]}x{size[2]}")
    return EncodedJpeg(frames=frames, height=int(shape[0]), width=int(shape[1]), channels=int(shape[2]))
