"""JPEG camera frames (format_spec.md §7.3), encoded and decoded with simplejpeg (libjpeg-turbo).

simplejpeg is the optional extra ``kinonb[jpeg]``, imported the first time a jpeg camera is written or read.
Before any frame is decoded its header is read and its SOF height, width and components must equal the block's
per-frame shape, so the decoder never allocates for a size the file did not promise (and the block's size
bounds that promise, §7.3); each frame decodes straight into its slot of the caller's buffer.
"""

from __future__ import annotations

import numpy as np

from ..errors import ImageDecodeError, MissingExtraError

#: SOF colour spaces (as simplejpeg names them) a frame of 1 or 3 channels may have.
COLORSPACES = {1: ("Gray",), 3: ("YCbCr", "RGB")}
OUTPUT = {1: "GRAY", 3: "RGB"}
DEFAULT_QUALITY = 90


def simplejpeg():
    try:
        import simplejpeg as module
    except ImportError as e:
        raise MissingExtraError("jpeg cameras need simplejpeg: pip install 'kinonb[jpeg]' (or pip install "
                                "simplejpeg)") from e
    return module


def encode(frames: np.ndarray, quality: int = DEFAULT_QUALITY) -> list:
    """One JPEG per frame of a (T, H, W, C) uint8 array, C = 1 (gray) or 3 (RGB, 4:2:0)."""
    sj = simplejpeg()
    gray = frames.shape[-1] == 1
    return [sj.encode_jpeg(np.ascontiguousarray(f), quality=int(quality), colorspace="GRAY" if gray else "RGB",
                           colorsubsampling="Gray" if gray else "420") for f in frames]


def header_problem(data, shape: tuple[int, int, int]) -> str | None:
    """Why ``data`` is not a JPEG of per-frame ``shape`` (H, W, C), from its header alone; None when it is."""
    try:
        h, w, space, _ = simplejpeg().decode_jpeg_header(data)
    except ValueError as e:
        return f"not a JPEG header ({e})"
    if (h, w) != tuple(shape[:2]) or space not in COLORSPACES.get(shape[2], ()):
        return f"a JPEG of {shape[0]}x{shape[1]} with {shape[2]} channels, its header says {h}x{w} {space}"
    return None


def decode_into(data, out: np.ndarray) -> None:
    """Decode one JPEG into ``out`` (H, W, C) uint8, C-contiguous; ImageDecodeError when it is not exactly that."""
    problem = header_problem(data, out.shape)
    if problem:
        raise ImageDecodeError(problem)
    try:
        got = simplejpeg().decode_jpeg(data, colorspace=OUTPUT[out.shape[2]], buffer=out, strict=True)
    except ValueError as e:
        raise ImageDecodeError(f"JPEG does not decode ({e})") from None
    if got.shape != out.shape or not np.shares_memory(got, out):
        raise ImageDecodeError(f"JPEG decoded to {got.shape}, expected {out.shape}")


def decode_frames(buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, out: np.ndarray) -> None:
    """Decode JPEG ``k`` (bytes ``buf[offsets[k] : offsets[k] + lengths[k]]``, checked ranges) into ``out[k]``."""
    for k in range(len(offsets)):
        o = int(offsets[k])
        decode_into(buf[o : o + int(lengths[k])], out[k])
