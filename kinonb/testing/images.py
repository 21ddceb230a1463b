"""Encoded image payloads for building test sources (LeRobot parquet, RLDS records). Requires Pillow."""

from __future__ import annotations

import io


def png(arr) -> bytes:
    """``arr`` (H, W) or (H, W, C) uint8 as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
