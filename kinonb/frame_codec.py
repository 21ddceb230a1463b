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


def frame_table_problem(table: np.ndarray, num_frames: int, block_nbytes: int) -> str | None:
    """Why an lz4 block's offset table is invalid, or None. ``table`` is the first T+1 <u8 of the block."""
    head = 8 * (num_frames + 1)
    if len(table) != num_frames + 1:
        return f"{num_frames + 1} offsets"
    if int(table[0]) != head:
        return f"offsets[0] == {head}"
    if int(table[-1]) != block_nbytes:
        return f"offsets[{num_frames}] == block length {block_nbytes}"
    if num_frames > 1 and bool(np.any(table[1:] < table[:-1])):
        return "non-decreasing offsets"
    return None


def decode_frames(block: np.ndarray, table: np.ndarray, frame_ids, frame_nbytes: int, out: np.ndarray) -> int:
    """Decode the frames ``frame_ids`` of a validated block into ``out`` rows; return the index of the first
    frame that fails to decode to exactly frame_nbytes bytes, or -1."""
    flat = out.reshape(len(frame_ids), -1)
    for j, i in enumerate(frame_ids):
        src = block[int(table[i]) : int(table[i + 1])]
        try:
            raw = lz4.block.decompress(src, uncompressed_size=frame_nbytes)
        except lz4.block.LZ4BlockError:
            return j
        if len(raw) != frame_nbytes:
            return j
        flat[j] = np.frombuffer(raw, np.uint8)
    return -1
