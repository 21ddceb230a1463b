"""The lz4 frame block: T independently compressed frames behind a table of T+1 byte offsets.

Block layout (format_spec.md, "lz4 camera blocks"): ``<u8 offsets[T+1]`` relative to the block start, with
``offsets[0] == 8 * (T + 1)`` and ``offsets[T] == block length``, then frame i's LZ4 *block-format* bytes (no
size prefix) at ``[offsets[i], offsets[i+1])``. Each frame decompresses to exactly the column's frame_nbytes.
"""

from __future__ import annotations

import lz4.block
import numpy as np


def encode_frames(frames: np.ndarray) -> list:
    """Compress each frame of a (T, ...) uint8 array; return the pieces of the block in order."""
    payloads = [lz4.block.compress(np.ascontiguousarray(f), store_size=False) for f in frames]
    table = np.empty(len(payloads) + 1, "<u8")
    table[0] = 8 * (len(payloads) + 1)
    np.cumsum([len(p) for p in payloads], out=table[1:])
    table[1:] += table[0]
    return [table.tobytes(), *payloads]


#: An LZ4 sequence of n input bytes yields at most 255 * n output bytes (each match-length byte adds <= 255).
MAX_LZ4_RATIO = 255


def frame_table_problem(table: np.ndarray, num_frames: int, block_nbytes: int,
                        frame_nbytes: int | None = None) -> str | None:
    """Why an lz4 block's offset table is invalid, or None. ``table`` is the first T+1 <u8 of the block.

    With ``frame_nbytes``, also refuse a frame too short to decode to that size: a reader allocates
    ``frame_nbytes`` per frame before decoding, so a forged frame size must be backed by real bytes.
    """
    head = 8 * (num_frames + 1)
    if len(table) != num_frames + 1:
        return f"{num_frames + 1} offsets"
    if int(table[0]) != head:
        return f"offsets[0] == {head}"
    if int(table[-1]) != block_nbytes:
        return f"offsets[{num_frames}] == block length {block_nbytes}"
    if num_frames > 1 and bool(np.any(table[1:] < table[:-1])):
        return "non-decreasing offsets"
    if frame_nbytes is not None and num_frames:
        shortest = int((table[1:] - table[:-1]).min())
        if shortest * MAX_LZ4_RATIO < frame_nbytes:
            return f"frames of at least {-(-frame_nbytes // MAX_LZ4_RATIO)} bytes, as {frame_nbytes}-byte frames need"
    return None
