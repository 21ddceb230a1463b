"""Many small blocks in one compiled call, for ``Writer.add_episodes``: copy each episode's rows of a column
into its aligned place in a write buffer and take its CRC-32 (zlib's, ISO-HDLC) in the same pass, where a
Python loop with ``zlib.crc32`` would cost ~0.25 us a block (more than the checksum of a 50-byte block).
Slicing-by-8 tables; the GIL is released."""

from __future__ import annotations

import numpy as np

from .jit import kernel


def _tables() -> np.ndarray:
    t = np.zeros((8, 256), np.int64)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t[0, i] = c
    for k in range(1, 8):
        t[k] = (t[k - 1] >> 8) ^ t[0][t[k - 1] & 0xFF]
    return t


TABLES = _tables()


@kernel
def pack_blocks(src, src_starts, sizes, dst, dst_starts, tables, out):
    """Copy ``src[src_starts[b] : + sizes[b]]`` to ``dst[dst_starts[b] :]`` and put its CRC-32 in ``out[b]``, in
    one pass over the bytes; the caller checks every range (and zeroes ``dst``'s padding)."""
    t0, t1, t2, t3 = tables[0], tables[1], tables[2], tables[3]
    t4, t5, t6, t7 = tables[4], tables[5], tables[6], tables[7]
    for b in range(len(src_starts)):
        s, d = np.int64(src_starts[b]), np.int64(dst_starts[b])
        end = s + np.int64(sizes[b])
        c = np.int64(0xFFFFFFFF)
        while s + 8 <= end:
            b0, b1, b2, b3 = src[s], src[s + 1], src[s + 2], src[s + 3]
            b4, b5, b6, b7 = src[s + 4], src[s + 5], src[s + 6], src[s + 7]
            dst[d], dst[d + 1], dst[d + 2], dst[d + 3] = b0, b1, b2, b3
            dst[d + 4], dst[d + 5], dst[d + 6], dst[d + 7] = b4, b5, b6, b7
            lo = c ^ (np.int64(b0) | (np.int64(b1) << 8) | (np.int64(b2) << 16) | (np.int64(b3) << 24))
            c = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[(lo >> 24) & 0xFF]
                 ^ t3[b4] ^ t2[b5] ^ t1[b6] ^ t0[b7])
            s += 8
            d += 8
        while s < end:
            dst[d] = src[s]
            c = t0[(c ^ src[s]) & 0xFF] ^ (c >> 8)
            s += 1
            d += 1
        out[b] = c ^ 0xFFFFFFFF
