"""Decode JPEG/PNG image payloads to uint8 (H, W, C) arrays with Pillow, imported only when needed.

Pillow is an optional dependency (the ``kinonb[images]`` extra). When it is missing, decoding raises
ImportError naming the extra: an image is never skipped silently.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import ImageDecodeError

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def sniff(data) -> str | None:
    """``"jpeg"``, ``"png"`` or None, from the payload's leading magic bytes."""
    head = bytes(data[:8])
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head.startswith(PNG_MAGIC):
        return "png"
    return None


def _pillow():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            "decoding JPEG/PNG images needs Pillow: pip install 'kinonb[images]' (or pip install pillow)"
        ) from e
    return Image


def decode_image(data, width: int, height: int, channels: int) -> np.ndarray:
    """Decode one JPEG or PNG payload into a (height, width, channels) uint8 array.

    The size in the payload's own header is checked against ``width`` x ``height`` before any pixel is
    decoded, so a forged payload cannot make Pillow allocate more than the caller announced.
    Raises ValueError when the payload is not JPEG/PNG, is corrupt, or has another size; ImportError when
    Pillow is missing.
    """
    kind = sniff(data)
    if kind is None:
        raise ImageDecodeError(f"payload is neither JPEG nor PNG (starts with {bytes(data[:8])!r})")
    mode = _MODES.get(int(channels))
    if mode is None:
        raise ImageDecodeError(f"cannot decode {kind} to {channels} channels (supported: 1, 3, 4)")
    Image = _pillow()
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=[kind.upper()]) as im:
            if im.size != (int(width), int(height)):
                raise ImageDecodeError(f"{kind} payload is {im.size[0]}x{im.size[1]}, header says {width}x{height}")
            im.load()
            out = np.asarray(im.convert(mode) if im.mode != mode else im, dtype=np.uint8)
    except ValueError:
        raise
    except Exception as e:  # Pillow raises OSError/SyntaxError/struct.error on corrupt payloads
        raise ImageDecodeError(f"corrupt {kind} payload: {e}") from e
    return out.reshape(int(height), int(width), int(channels))
