"""The writer's ``compression=`` and codec options: which codec each new camera column gets, and how to encode.

``compression`` is None or "none" (raw), "lz4", "jpeg" or "video" for every camera, or ``{camera: codec}``
per camera (cameras not named stay raw). A camera's codec is fixed when its column is created; a pre-encoded
input (:class:`~kinonb.codecs.EncodedJpeg`, :class:`~kinonb.codecs.EncodedVideo`) creates a column of its own
codec whatever ``compression`` says.
"""

from __future__ import annotations

from ..codecs.video import ENCODERS
from ..errors import InvalidArgumentError
from ..format import layout as L

_NAMES = {None: L.CODEC_RAW, "none": L.CODEC_RAW, "raw": L.CODEC_RAW, "lz4": L.CODEC_LZ4_FRAMES,
          "jpeg": L.CODEC_JPEG, "video": L.CODEC_VIDEO}


def _codec(value, where: str) -> int:
    if not isinstance(value, (str, type(None))) or value not in _NAMES:
        raise InvalidArgumentError(f"{where} must be None, 'none', 'lz4', 'jpeg' or 'video', got {value!r}")
    return _NAMES[value]


class CameraCodecs:
    """Parsed ``compression`` plus the encoders' settings (checked up front: InvalidArgumentError)."""

    def __init__(self, compression=None, *, jpeg_quality: int = 90, video_codec: str = "h264", video_crf: int = 23,
                 video_gop: int = 30):
        if isinstance(compression, dict):
            self.per_camera = {name: _codec(v, f"compression[{name!r}]") for name, v in compression.items()}
            self.default = L.CODEC_RAW
        else:
            self.per_camera, self.default = {}, _codec(compression, "compression")
        if not isinstance(jpeg_quality, int) or isinstance(jpeg_quality, bool) or not 1 <= jpeg_quality <= 100:
            raise InvalidArgumentError(f"jpeg_quality must be an int in 1..100, got {jpeg_quality!r}")
        if video_codec not in ENCODERS:
            raise InvalidArgumentError(f"video_codec must be one of {sorted(ENCODERS)}, got {video_codec!r}")
        for name, v, top in (("video_crf", video_crf, 63), ("video_gop", video_gop, 1 << 16)):
            if not isinstance(v, int) or isinstance(v, bool) or not (0 if name == "video_crf" else 1) <= v <= top:
                raise InvalidArgumentError(f"{name} must be an int in range, got {v!r}")
        self.options = {"jpeg_quality": jpeg_quality, "video_codec": video_codec, "video_crf": video_crf,
                        "video_gop": video_gop}

    def codec_for(self, camera: str) -> int:
        return self.per_camera.get(camera, self.default)
