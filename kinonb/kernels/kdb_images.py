"""The record heads of a kinodb ``.kdb`` image section, parsed in one compiled pass.

Per frame: u16 camera count; per camera: u16 name length, the name, u32 width, u32 height, u8 channels, u8
format, u32 data length, then the data (``kinonb/interop/kdb_layout.py``). Every length is checked against the
section's end before anything is read past it; on any problem the kernels say only that there is one, and the
reader's Python parser names it.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel

#: Columns of a parsed record row.
FRAME, NAME_AT, NAME_LEN, WIDTH, HEIGHT, CHANNELS, FORMAT, DATA_AT, DATA_LEN = range(9)
HEAD = 14  # width, height, channels, format, data length


@kernel(inline=True)
def _u16(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8)


@kernel(inline=True)
def _u32(buf, p):
    return (np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16)
            | (np.int64(buf[p + 3]) << 24))


@kernel
def image_records(buf: np.ndarray, pos: int, end: int, frames: int, rows: np.ndarray) -> int:
    """Parse ``frames`` frames of the section ``buf[pos:end]`` that must end exactly at ``end``; fill ``rows``
    (one per record, when it has room: pass an empty array to count first). Returns the number of records, or
    -1 when the section is malformed."""
    n = 0
    for t in range(frames):
        if pos + 2 > end:
            return -1
        ncam = _u16(buf, pos)
        pos += 2
        for _ in range(ncam):
            if pos + 2 > end:
                return -1
            name_len = _u16(buf, pos)
            if name_len + HEAD > end - pos - 2:
                return -1
            head = pos + 2 + name_len
            data_len = _u32(buf, head + 10)
            data_at = head + HEAD
            if data_len > end - data_at:
                return -1
            if n < rows.shape[0]:
                rows[n, FRAME] = t
                rows[n, NAME_AT] = pos + 2
                rows[n, NAME_LEN] = name_len
                rows[n, WIDTH] = _u32(buf, head)
                rows[n, HEIGHT] = _u32(buf, head + 4)
                rows[n, CHANNELS] = buf[head + 8]
                rows[n, FORMAT] = buf[head + 9]
                rows[n, DATA_AT] = data_at
                rows[n, DATA_LEN] = data_len
            n += 1
            pos = data_at + data_len
    return n if pos == end else -1
