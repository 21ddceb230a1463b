"""The image section of a kinodb ``.kdb`` episode: per frame a u16 camera count, then per camera a u16 + utf-8
name, ``IMAGE_RECORD_HEAD`` (width, height, channels, format, data_len) and the payload.

Every record is checked against the episode's own section before its bytes are read, and a payload against the
size its record announces before any array is allocated for it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import CorruptFieldError, OffsetError
from . import kdb_layout as L
from ..codecs import jpeg
from ..codecs.decode_pool import decode_threads, run
from .image_codecs import decode_image, sniff


class ImageRecord(NamedTuple):
    name: str
    width: int
    height: int
    channels: int
    format: int
    data_offset: int
    data_len: int
    offset: int  # where the record starts (its name length)


class ImageSection:
    """Parses and decodes the image sections of one mapped ``.kdb`` file (``buf``, named ``path`` in errors)."""

    def __init__(self, buf, path: str):
        self._buf = buf
        self._path = path

    def records(self, i, e, max_frames=None) -> list:
        """Parse the headers of the image section: one list of ImageRecord per frame, data not read."""
        pos, end = int(e["images_offset"]), int(e["images_offset"]) + int(e["images_length"])
        nframes = int(e["num_frames"]) if max_frames is None else min(max_frames, int(e["num_frames"]))
        if (max_frames is None and end - pos == 2 * int(e["num_frames"])
                and not np.frombuffer(self._buf, np.uint8, end - pos, pos).any()):
            return [[] for _ in range(nframes)]  # a low-dim episode: every frame's camera count is 0
        frames = []
        for _ in range(nframes):
            self.need(pos, 2, end, i, "camera count")
            (ncam,) = L.U16.unpack_from(self._buf, pos)
            pos += 2
            recs = []
            for _ in range(ncam):
                at = pos
                self.need(pos, 2, end, i, "camera name length")
                (n,) = L.U16.unpack_from(self._buf, pos)
                self.need(pos + 2, n + L.IMAGE_RECORD_HEAD.size, end, i, "camera record head")
                name = self.utf8(pos + 2, n, "camera name")
                w, h, c, fmt, dlen = L.IMAGE_RECORD_HEAD.unpack_from(self._buf, pos + 2 + n)
                pos += 2 + n + L.IMAGE_RECORD_HEAD.size
                self.need(pos, dlen, end, i, f"camera {name!r} image data")
                recs.append(ImageRecord(name, w, h, c, fmt, pos, dlen, at))
                pos += dlen
            frames.append(recs)
        if max_frames is None and pos != end:
            raise CorruptFieldError(
                self._path, pos, f"end of episode {i}'s image section at byte {end}", f"{end - pos} unparsed bytes"
            )
        return frames

    def need(self, pos, n, end, i, what):
        if n > end - pos:
            raise OffsetError(
                self._path, pos, f"{what} ({n} bytes) inside episode {i}'s image section", f"it ends at byte {end}"
            )

    def utf8(self, pos, n, what):
        try:
            return bytes(self._buf[pos : pos + n]).decode("utf-8")
        except UnicodeDecodeError as err:
            raise CorruptFieldError(self._path, pos + err.start, f"utf-8 {what}", repr(err.object[err.start:err.end]))

    def decode(self, i, e, only: str | None = None) -> dict:
        frames = self.records(i, e)
        if not any(frames):
            return {}  # no camera in any frame
        first = {r.name: r for r in frames[0]} if frames else {}
        if frames and len(first) != len(frames[0]):
            raise CorruptFieldError(
                self._path, frames[0][0].offset, "distinct camera names in frame 0", [r.name for r in frames[0]]
            )
        out = {}
        later = []  # compressed frames after frame 0: decoded in threads once the arrays exist
        for t, recs in enumerate(frames):
            if sorted(r.name for r in recs) != sorted(first):
                at = recs[0].offset if recs else int(e["images_offset"])
                raise CorruptFieldError(
                    self._path, at, f"cameras {sorted(first)} in frame {t}, as in frame 0",
                    sorted(r.name for r in recs), "kinonb needs every camera in every frame",
                )
            for r in recs:
                r0 = first[r.name]
                if (r.height, r.width, r.channels) != (r0.height, r0.width, r0.channels):
                    raise CorruptFieldError(
                        self._path, r.offset, f"camera {r.name!r} HxWxC {(r0.height, r0.width, r0.channels)} "
                        f"in frame {t}, as in frame 0", (r.height, r.width, r.channels),
                    )
                if only is not None and r.name != only:
                    continue
                if t == 0:  # allocate only once frame 0's payload has confirmed the announced size
                    pixels = self.pixels(r, t)
                    out[r.name] = np.empty((len(frames),) + pixels.shape, np.uint8)
                    out[r.name][0] = pixels
                elif r.format == L.FORMAT_COMPRESSED:
                    later.append((r, t))
                else:
                    out[r.name][t] = self.pixels(r, t)
        parts = np.array_split(np.arange(len(later)), min(len(later), 4 * decode_threads()) or 1)
        run([lambda part=part: self._decode_into(later, part, out) for part in parts if len(part)])
        return out

    def _decode_into(self, later: list, part: np.ndarray, out: dict) -> None:
        for k in part:
            r, t = later[k]
            target = out[r.name][t]
            data = self._buf[r.data_offset : r.data_offset + r.data_len]
            if r.channels in jpeg.OUTPUT and sniff(data) == "jpeg" and _has_simplejpeg():
                try:
                    jpeg.decode_into(data, target)  # libjpeg-turbo into the array, the GIL released
                except ValueError as err:
                    raise CorruptFieldError(self._path, r.data_offset, f"a decodable JPEG for camera {r.name!r}",
                                            str(err), f"frame {t}") from None
            else:
                target[...] = self.pixels(r, t)

    def pixels(self, r, t) -> np.ndarray:
        data = self._buf[r.data_offset : r.data_offset + r.data_len]
        shape = (r.height, r.width, r.channels)
        if r.format == L.FORMAT_RAW:
            if r.data_len != r.height * r.width * r.channels:
                raise CorruptFieldError(
                    self._path, r.data_offset - 4, f"{r.height}*{r.width}*{r.channels} raw bytes for camera "
                    f"{r.name!r}", r.data_len, f"frame {t}",
                )
            return np.frombuffer(data, np.uint8).reshape(shape)
        if r.format == L.FORMAT_COMPRESSED:
            try:
                return decode_image(data, r.width, r.height, r.channels)
            except ValueError as err:
                raise CorruptFieldError(
                    self._path, r.data_offset, f"a decodable JPEG/PNG for camera {r.name!r}", str(err), f"frame {t}"
                ) from None
        raise CorruptFieldError(self._path, r.data_offset - 5, "image format 0 (raw) or 1 (JPEG/PNG)", r.format)


def _has_simplejpeg() -> bool:
    try:
        jpeg.simplejpeg()
    except ImportError:
        return False  # Pillow decodes it, in the calling thread's turn
    return True
