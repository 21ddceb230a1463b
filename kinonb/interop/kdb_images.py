"""The image section of a kinodb ``.kdb`` episode: per frame a u16 camera count, then per camera a u16 + utf-8
name, ``IMAGE_RECORD_HEAD`` (width, height, channels, format, data_len) and the payload.

Every record is checked against the episode's own section before its bytes are read, and a payload against the
size its record announces before any array is allocated for it.
"""

from __future__ import annotations

import functools
import struct
from typing import NamedTuple

import numpy as np

from ..errors import CorruptFieldError, OffsetError
from . import kdb_layout as L
from ..codecs import jpeg
from ..codecs.decode_pool import decode_threads, run
from ..kernels import kdb_images as R
from ..kernels.kdb_images import image_records
from .image_codecs import decode_image, sniff


_NO_ROWS = np.zeros((0, 9), np.int64)
_U32 = struct.Struct("<I")


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
        self._bytes = np.frombuffer(buf, np.uint8)
        self._names: dict[bytes, str] = {}  # camera name bytes -> the name, decoded once
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

    def first_frame_cameras(self, i, e) -> list[str]:
        """The names of frame 0's cameras (meta["cameras"]), from its record heads; a malformed head raises."""
        pos = int(e["images_offset"])
        end = pos + int(e["images_length"])
        names = []
        if int(e["num_frames"]) and pos + 2 <= end:
            buf = self._buf
            (ncam,) = L.U16.unpack_from(buf, pos)
            pos += 2
            for _ in range(ncam):
                if pos + 2 > end:
                    break
                (n,) = L.U16.unpack_from(buf, pos)
                head = pos + 2 + n
                if head + L.IMAGE_RECORD_HEAD.size > end:
                    break
                raw = bytes(buf[pos + 2 : head])
                name = self._names.get(raw)
                if name is None:
                    name = self._names[raw] = self.utf8(pos + 2, n, "camera name")
                names.append(name)
                (data_len,) = _U32.unpack_from(buf, head + 10)
                pos = head + L.IMAGE_RECORD_HEAD.size + data_len
            else:
                if pos <= end:
                    return names
        return [r.name for recs in self.records(i, e, max_frames=1) for r in recs]  # names what is wrong

    def decode(self, i, e, only: str | None = None) -> dict:
        """``{camera: (T, H, W, C) uint8}`` of episode ``i`` (only camera ``only`` when given)."""
        fast = self._decode_compiled(i, e, only)
        return fast if fast is not None else self._decode_parsed(i, e, only)

    def _decode_compiled(self, i, e, only) -> dict | None:
        """The regular case (every camera in every frame, one shape each, raw or JPEG/PNG throughout), from one
        compiled pass over the record heads; None for anything else, which the parser reads or names."""
        pos, frames = int(e["images_offset"]), int(e["num_frames"])
        n = image_records(self._bytes, pos, pos + int(e["images_length"]), frames, _NO_ROWS)
        if n <= 0:
            return {} if n == 0 else None
        rows = np.empty((n, 9), np.int64)
        image_records(self._bytes, pos, pos + int(e["images_length"]), frames, rows)
        names: dict[bytes, int] = {}
        for a, ln in rows[rows[:, R.FRAME] == 0][:, [R.NAME_AT, R.NAME_LEN]].tolist():
            names.setdefault(self._bytes[a : a + ln].tobytes(), len(names))
        ncam = len(names)
        if not ncam or n != ncam * frames:
            return None
        ids = self._camera_ids(rows, list(names))
        slot = rows[:, R.FRAME] * ncam + ids
        if (ids < 0).any() or not np.array_equal(np.sort(slot), np.arange(n)):
            return None  # a camera missing from a frame, or given twice in one
        rows = rows[np.argsort(slot)].reshape(frames, ncam, 9)
        shape = rows[0, :, [R.HEIGHT, R.WIDTH, R.CHANNELS]].T
        if (rows[:, :, [R.HEIGHT, R.WIDTH, R.CHANNELS]] != shape).any():
            return None
        out, later = {}, []
        for raw_name, c in names.items():
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if only is not None and name != only:
                continue
            h, w, ch = (int(x) for x in shape[c])
            fmt, sizes, starts = rows[:, c, R.FORMAT], rows[:, c, R.DATA_LEN], rows[:, c, R.DATA_AT]
            if (fmt == L.FORMAT_RAW).all() and (sizes == h * w * ch).all():
                flat = np.empty((frames, h * w * ch), np.uint8)
                for t, at in enumerate(starts.tolist()):
                    flat[t] = self._bytes[at : at + h * w * ch]  # numpy's copy beats a compiled byte loop here
                out[name] = flat.reshape(frames, h, w, ch)
            elif (fmt == L.FORMAT_COMPRESSED).all():
                recs = [ImageRecord(name, w, h, ch, L.FORMAT_COMPRESSED, int(starts[t]), int(sizes[t]),
                                    int(rows[t, c, R.NAME_AT]) - 2) for t in range(frames)]
                if self._jpeg_as_announced(recs[0]):  # its header confirms the size: all frames on the threads
                    out[name] = np.empty((frames, h, w, ch), np.uint8)
                    later += list(zip(recs, range(frames)))
                    continue
                pixels = self.pixels(recs[0], 0)  # frame 0 confirms the announced size before the allocation
                out[name] = np.empty((frames,) + pixels.shape, np.uint8)
                out[name][0] = pixels
                later += [(r, t) for t, r in enumerate(recs) if t]
            else:
                return None
        parts = np.array_split(np.arange(len(later)), min(len(later), 4 * decode_threads()) or 1)
        run([lambda part=part: self._decode_into(later, part, out) for part in parts if len(part)])
        return out

    def _camera_ids(self, rows: np.ndarray, names: list[bytes]) -> np.ndarray:
        """Which of ``names`` each record's name is (-1: none), byte for byte, without a Python step per record."""
        lengths = rows[:, R.NAME_LEN]
        width = max(1, int(lengths.max()))
        at = np.minimum(rows[:, R.NAME_AT, None] + np.arange(width), len(self._bytes) - 1)
        got = np.where(np.arange(width) < lengths[:, None], self._bytes[at], 0)
        want = np.zeros((len(names), width), np.uint8)
        for k, name in enumerate(names):
            want[k, : len(name)] = np.frombuffer(name, np.uint8)[:width]
        same = (got[:, None, :] == want[None]).all(axis=2)
        same &= lengths[:, None] == np.array([len(x) for x in names])[None]
        return np.where(same.any(axis=1), same.argmax(axis=1), -1)

    def _decode_parsed(self, i, e, only: str | None = None) -> dict:
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

    def _jpeg_as_announced(self, r: ImageRecord) -> bool:
        """Whether ``r`` is a JPEG that libjpeg-turbo decodes to exactly the record's H x W x C (its header says so)."""
        data = self._buf[r.data_offset : r.data_offset + r.data_len]
        return (r.channels in jpeg.OUTPUT and sniff(data) == "jpeg" and _has_simplejpeg()
                and jpeg.header_problem(data, (r.height, r.width, r.channels)) is None)

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


@functools.cache
def _has_simplejpeg() -> bool:
    """Whether libjpeg-turbo (simplejpeg) is installed; asked once per process, not once per frame."""
    try:
        jpeg.simplejpeg()
    except ImportError:
        return False  # Pillow decodes it, in the calling thread's turn
    return True
