"""The numpy form of the ``.kdb`` index check at open (the compiled form: :mod:`kinonb.kernels.kdb_index`).

Every section must lie between the header and the index, a low-dim section must be exactly
``num_frames * (4 (S + A) + 5)`` bytes, an image section must hold a u16 camera count a frame, a meta blob its
fixed fields, and no two non-empty sections may overlap. The 64-byte entries are copied once into RAM as eight
u64 words each, a chunk at a time (a plain memcpy; field access on the mapped structured array costs several
times more), and checked column by column. kinodb writes sections in file order (meta, low-dim, images, episode after episode),
which one pass confirms; only a file in another order pays for a sort.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFieldError, OffsetError, OverlapError
from . import kdb_layout as L

#: The u64 word of each (offset, length) field in a 64-byte index entry.
_WORD = {name: L.INDEX_ENTRY_DTYPE.fields[name][1] // 8 for name in L.INDEX_ENTRY_DTYPE.names
         if L.INDEX_ENTRY_DTYPE.fields[name][1] % 8 == 0 and L.INDEX_ENTRY_DTYPE.fields[name][0].itemsize == 8}


#: Entries checked at a time: the chunk and its temporaries stay in cache, and no large array is allocated (a
#: fresh page costs ~2 us to fault in on a VM, more than checking the 64 entries it holds).
CHUNK = 4096


def check_index(path, buf: np.ndarray, index_offset: int, n: int) -> list[int]:
    """Check the n entries at ``index_offset`` of ``buf`` (the caller placed them inside the file); return
    ``[total num_frames]``. Raises OffsetError, CorruptFieldError or OverlapError naming the entry."""
    words = np.frombuffer(buf, "<u8", count=8 * n, offset=index_offset).reshape(n, 8)
    chunk = np.empty((8, min(n, CHUNK)), np.uint64)  # column-major: each field contiguous
    total, prev_end, in_order = 0, np.uint64(0), True
    for first in range(0, n, CHUNK):
        w = chunk[:, : min(CHUNK, n - first)]
        np.copyto(w, words[first : first + w.shape[1]].T)
        col = {name: w[k] for name, k in _WORD.items()}
        frames = _frames_if_good(w, L.HEADER_SIZE, index_offset)
        if frames is None:  # some entry is bad: name it
            frames = _check_entries(path, col, w[1], index_offset, first)
        total += int(frames.sum())
        if in_order:
            in_order = _in_file_order(col, prev_end)
            prev_end = col["images_offset"][-1] + col["images_length"][-1]
    if not in_order:
        _check_no_overlap(path, {name: words[:, k].copy() for name, k in _WORD.items()}, n)
    return [total]


def _frames_if_good(w: np.ndarray, lo: int, hi: int) -> np.ndarray | None:
    """The chunk's num_frames when every entry passes the checks of _check_entries (in a few whole-chunk
    operations), else None."""
    offs, lens = w[2::2], w[3::2]  # (low-dim, images, meta) x entries
    if ((offs < lo) | (offs > hi) | (lens > hi - np.minimum(offs, hi))).any():
        return None
    packed = w[1]
    nf = packed & 0xFFFFFFFF
    per_frame = ((packed >> 32 & 0xFFFF) + (packed >> 48)) * 4 + 5  # below 2**19: nf * per_frame cannot wrap
    if ((w[3] != nf * per_frame) | (w[5] < 2 * nf) | (w[7] < L.META_MIN_SIZE)).any():
        return None
    return nf


def _check_entries(path, col: dict, packed: np.ndarray, index_offset: int, first: int) -> np.ndarray:
    """The per-entry checks of entries ``first ..``; returns their num_frames."""
    lo, hi = L.HEADER_SIZE, index_offset

    def entry_at(i: int, field: str) -> int:
        return index_offset + L.INDEX_ENTRY_SIZE * (first + i) + L.INDEX_ENTRY_DTYPE.fields[field][1]

    for off_f, len_f, name in L.SECTIONS:
        off, ln = col[off_f], col[len_f]
        bad = (off < lo) | (off > hi) | (ln > hi - np.minimum(off, hi))  # compared without adding: no u64 wrap
        if bad.any():
            i = int(np.argmax(bad))
            raise OffsetError(path, entry_at(i, off_f), f"episode {first + i}'s {name} section within bytes "
                              f"[{lo}, {hi})", f"offset {int(off[i])}, length {int(ln[i])}")
    nf = (packed & 0xFFFFFFFF).astype(np.int64)  # num_frames u32, action_dim u16, state_dim u16
    per_frame = 4 * ((packed >> 32 & 0xFFFF) + (packed >> 48)).astype(np.int64) + 5
    checks = (
        ("actions_length", col["actions_length"] != (nf * per_frame).astype(np.uint64),
         lambda i: f"{int(nf[i])} frames x {int(per_frame[i])} B = {int(nf[i] * per_frame[i])}"),
        ("images_length", col["images_length"] < (2 * nf).astype(np.uint64),
         lambda i: f">= {2 * int(nf[i])} (a u16 camera count per frame)"),
        ("meta_length", col["meta_length"] < L.META_MIN_SIZE, lambda i: f">= {L.META_MIN_SIZE}"),
    )
    for field, bad, expected in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise CorruptFieldError(path, entry_at(i, field), f"{field} {expected(i)}", int(col[field][i]),
                                    f"episode {first + i}")
    return nf


def _in_file_order(col: dict, prev_end) -> bool:
    """Every section ends by the start of the next in kinodb's order (the chunk's first after ``prev_end``, where
    the previous chunk's last image section ends): then none overlaps another."""
    mo, ml, ao, al = col["meta_offset"], col["meta_length"], col["actions_offset"], col["actions_length"]
    io, il = col["images_offset"], col["images_length"]
    return bool((mo + ml <= ao).all() and (ao + al <= io).all() and (io[:-1] + il[:-1] <= mo[1:]).all() and prev_end <= mo[0])


def _check_no_overlap(path, col: dict, n: int) -> None:
    starts = np.concatenate([col[f] for f, _, _ in L.SECTIONS])
    ends = starts + np.concatenate([col[f] for _, f, _ in L.SECTIONS])
    order = np.argsort(starts, kind="stable")
    order = order[ends[order] > starts[order]]  # empty sections cannot overlap anything
    clash = ends[order][:-1] > starts[order][1:]
    if clash.any():
        j = int(np.argmax(clash))
        a, b = (int(k) % n for k in order[j : j + 2])
        raise OverlapError(
            path, int(starts[order[j + 1]]), f"episode {b}'s section to start at or after byte {int(ends[order[j]])}",
            f"it starts at {int(starts[order[j + 1]])}, inside episode {a}'s",
        )
