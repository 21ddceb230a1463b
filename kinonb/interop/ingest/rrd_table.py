"""Rerun dataframe columns (pyarrow, as ``ChunkStore.reader(index=...)`` returns them) as numpy arrays.

A component column holds one cell per row of the index: null where the entity logged nothing at that index
value, else a list of instances (``Scalars:scalars``: the values, ``EncodedImage:blob``: one blob of bytes). Every
function here reads only the rows it is given and returns ``(value, None)`` or ``(None, why not)``, the reason an
ingest reports the entity skipped with. Sizes come from the cells, never trusted before they are checked.
"""

from __future__ import annotations

import io

import numpy as np

#: Image:format color_model -> (channels, reorder to RGB(A)); rerun.encodings.ColorModel.
COLOR_MODELS = {1: (1, None), 2: (3, None), 3: (4, None), 4: (3, [2, 1, 0]), 5: (4, [2, 1, 0, 3])}
U8 = 6  # rerun.encodings.ChannelDatatype.U8
VIDEO_ARCHETYPES = ("rerun.archetypes.VideoStream", "rerun.archetypes.AssetVideo",
                    "rerun.archetypes.VideoFrameReference")


def numeric(column, rows: np.ndarray):
    """``(array (len(rows), *shape), None)`` of a numeric list column at ``rows`` (every cell the same length;
    nested fixed-size lists become more dims), or ``(None, why)``."""
    import pyarrow as pa

    cells = column.take(pa.array(rows, pa.int64())) if len(rows) != len(column) else column
    if cells.null_count:
        return None, "not logged at every frame"
    typ = cells.type
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ)):
        return None, f"arrow type {typ} is not a list of numbers"
    if pa.types.is_fixed_size_list(typ):
        width = typ.list_size
    else:
        lengths = np.asarray(cells.value_lengths())
        if len(lengths) and (lengths != lengths[0]).any():
            return None, f"a different number of values per frame ({int(lengths.min())} to {int(lengths.max())})"
        width = int(lengths[0]) if len(lengths) else 0
    values, shape = cells.flatten(), [len(cells), width]
    while pa.types.is_fixed_size_list(values.type):
        shape.append(values.type.list_size)
        values = values.flatten()
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_boolean(values.type)):
        return None, f"values of arrow type {values.type} are not numbers"
    if values.null_count:
        return None, "null values inside a cell"
    arr = values.to_numpy(zero_copy_only=False)
    if arr.size != int(np.prod(shape)):
        return None, f"{arr.size} values for a {tuple(shape)} array"
    return arr.reshape(shape), None


def logged_rows(column) -> np.ndarray:
    """Row numbers whose cell is not null."""
    return np.flatnonzero(~np.asarray(column.is_null()))


def single_blobs(column, rows: np.ndarray):
    """``(list of bytes, None)``: each row's one blob (EncodedImage:blob, Image:buffer), or ``(None, why)``."""
    out = []
    for r, cell in zip(rows.tolist(), column.take(rows).to_pylist()):
        if cell is None:
            return None, f"not logged at every frame (nothing at row {r})"
        if len(cell) != 1:
            return None, f"{len(cell)} images in one frame (row {r})"
        blob = cell[0]
        out.append(blob if isinstance(blob, bytes) else bytes(blob))
    return out, None


def encoded_images(blobs: list, media_types: list | None, keep_jpeg: bool, where: str):
    """EncodedImage frames: all JPEG -> EncodedJpeg (the bytes as they are) when ``keep_jpeg``, else every frame
    decoded with Pillow to uint8 (T, H, W, C). ``(value, None)`` or ``(None, why)``."""
    kinds = {_media_kind(blob, (media_types or [None] * len(blobs))[t]) for t, blob in enumerate(blobs)}
    if kinds - {"jpeg", "png"}:
        return None, f"image payloads of type {sorted(k for k in kinds if k not in ('jpeg', 'png'))}"
    if keep_jpeg and kinds == {"jpeg"}:
        from .cameras import encoded_jpeg

        return encoded_jpeg(blobs, None, "EncodedImage", where), None
    from PIL import Image

    frames = []
    for t, blob in enumerate(blobs):
        with Image.open(io.BytesIO(blob)) as im:
            arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB", "RGBA") else im)
        frames.append(arr if arr.ndim == 3 else arr[..., None])
        if frames[-1].shape != frames[0].shape:
            return None, f"frame {t} is {frames[-1].shape}, frame 0 {frames[0].shape}"
    return np.stack(frames), None


def _media_kind(blob: bytes, media_type) -> str:
    if blob[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if blob[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return str(media_type[0] if isinstance(media_type, list) and media_type else media_type)


def raw_images(buffers: list, formats: list):
    """Image frames (buffer + format per frame) as uint8 (T, H, W, C), BGR reordered to RGB. ``(value, None)`` or
    ``(None, why)``: only u8 channels of color models L / RGB / RGBA / BGR / BGRA, one size for every frame."""
    frames = []
    for t, (buf, fmt) in enumerate(zip(buffers, formats)):
        fmt = fmt[0] if isinstance(fmt, list) and fmt else fmt
        if not isinstance(fmt, dict) or fmt.get("pixel_format") is not None:
            return None, f"pixel format {fmt and fmt.get('pixel_format')} (only u8 color models are read)"
        if fmt.get("channel_datatype") != U8 or fmt.get("color_model") not in COLOR_MODELS:
            return None, f"channel datatype {fmt.get('channel_datatype')}, color model {fmt.get('color_model')}"
        channels, order = COLOR_MODELS[fmt["color_model"]]
        h, w = int(fmt["height"]), int(fmt["width"])
        if len(buf) != h * w * channels:
            return None, f"frame {t}: {len(buf)} bytes for {h}x{w}x{channels}"
        arr = np.frombuffer(buf, np.uint8).reshape(h, w, channels)
        frames.append(arr[..., order] if order else arr)
        if frames[-1].shape != frames[0].shape:
            return None, f"frame {t} is {frames[-1].shape}, frame 0 {frames[0].shape}"
    return np.stack(frames), None
