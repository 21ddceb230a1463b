"""One pass over a kinodb ``.kdb`` index (issue 18 req 5): every check ``KdbDatabase`` makes at open, compiled.

The index is read as rows of eight little-endian u64 words (``kinonb/interop/kdb_layout.py``): episode_id;
num_frames (u32) | action_dim (u16) << 32 | state_dim (u16) << 48; then (offset, length) of the low-dim, image
and meta sections. The kernel only says whether every check passes; on any failure the reader runs its numpy
checks, which name the episode, the field and its byte offset.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel

META_MIN_SIZE = 10


@kernel
def kdb_index_ok(words: np.ndarray, lo: int, hi: int) -> tuple[bool, int]:
    """(every check passes, total frames): each section within [lo, hi), the low-dim length num_frames x
    (4 (S + A) + 5), images at least 2 bytes a frame, meta at least META_MIN_SIZE, and sections not overlapping
    (checked here when they come in file order, as kinodb writes them; False otherwise, for the full check)."""
    total = 0
    end = np.uint64(lo)
    ulo, uhi = np.uint64(lo), np.uint64(hi)
    for i in range(words.shape[0]):
        packed = words[i, 1]
        nf = packed & np.uint64(0xFFFFFFFF)
        a = (packed >> np.uint64(32)) & np.uint64(0xFFFF)
        s = packed >> np.uint64(48)
        if words[i, 3] != nf * (np.uint64(4) * (s + a) + np.uint64(5)) or words[i, 5] < np.uint64(2) * nf:
            return False, 0
        if words[i, 7] < np.uint64(META_MIN_SIZE):
            return False, 0
        for k in (6, 2, 4):  # meta, low-dim, images: the file order
            off, ln = words[i, k], words[i, k + 1]
            if off < ulo or off > uhi or ln > uhi - off:
                return False, 0
            if ln > 0:
                if off < end:
                    return False, 0  # out of file order: maybe an overlap, maybe just another layout
                end = off + ln
        total += int(nf)
    return True, total
