"""Which bytes of the file a read touches, known from the footer alone (a camera's frames also from its block's
frame table): what a remote reader fetches before it reads (kinonb/interop/remote/). Mixed into
:class:`kinonb.store.reader.Database`; every method returns ``(starts, ends)`` int64 arrays."""

from __future__ import annotations

import numpy as np

from ..errors import PositionError, UnknownKeyError
from ..format import layout as L

#: Roles whose blocks a sample index reads while it is built.
CLOCK_ROLES = (L.ROLE_TIMESTAMPS, L.ROLE_STREAM_TIMESTAMPS)


def _pairs(starts, ends) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(starts, np.int64).reshape(-1), np.asarray(ends, np.int64).reshape(-1)


class ByteRanges:
    def _checked_positions(self, positions) -> np.ndarray:
        p = np.asarray(positions, np.int64).reshape(-1)
        if len(p) and (p.min() < 0 or p.max() >= self._index.n):
            bad = int(p[(p < 0) | (p >= self._index.n)][0])
            raise PositionError(f"{self._path}: no episode at position {bad} (file has {self._index.n})")
        return p

    def _columns_of(self, names) -> list[int]:
        try:
            return [self._col_by_name[n] for n in names]
        except KeyError as e:
            raise UnknownKeyError(f"{self._path}: no column {e.args[0]!r}; columns: {self.column_names()}") from None

    def block_ranges(self, positions, *, columns=None, cameras: bool = True):
        """The blocks of episodes ``positions``: of the named ``columns`` (None: all; ``cameras=False``: all but
        the cameras)."""
        p = self._checked_positions(positions)
        if columns is not None:
            cols = self._columns_of(columns)
        else:
            cols = [c for c, col in enumerate(self._columns) if cameras or col.role != L.ROLE_CAMERA]
        rows = self._index.blocks[p][:, cols].reshape(-1)
        rows = rows[rows["nbytes"] > 0]
        return _pairs(rows["offset"], rows["offset"] + rows["nbytes"])

    def episode_extents(self, positions, *, columns=None) -> tuple[np.ndarray, np.ndarray]:
        """Per episode of ``positions``: the offset of its first block of ``columns`` (None: all) and the bytes of
        those blocks together; an episode without such a block gets offset -1 and 0 bytes. Vectorised: what
        groups a read by byte locality (kinonb/ray/locality.py) asks of every episode at once."""
        p = self._checked_positions(positions)
        cols = self._columns_of(columns) if columns is not None else list(range(len(self._columns)))
        rows = self._index.blocks[p][:, cols]
        present = rows["nbytes"] > 0
        none = np.iinfo(np.int64).max
        first = np.where(present, rows["offset"].astype(np.int64), none).min(axis=1, initial=none)
        first[first == none] = -1
        return first.astype(np.int64), np.where(present, rows["nbytes"], 0).sum(axis=1).astype(np.int64)

    def clock_ranges(self, positions):
        """The frame-clock and stream-clock blocks of ``positions``: a sample index reads them when built."""
        names = [col.name for col in self._columns if col.role in CLOCK_ROLES]
        return self.block_ranges(positions, columns=names) if names else _pairs([], [])

    def camera_table_ranges(self, name: str, positions):
        """The frame table at the head of camera ``name``'s compressed blocks of ``positions`` (lz4 / JPEG:
        T + 1 offsets; video: the whole block); none for a raw camera."""
        p = self._checked_positions(positions)
        (c,) = self._columns_of([name])
        codec = self._columns[c].codec
        if codec == L.CODEC_RAW or not len(p):
            return _pairs([], [])
        blk = self._index.blocks[p, c]
        off, nbytes = blk["offset"].astype(np.int64), blk["nbytes"].astype(np.int64)
        if codec == L.CODEC_VIDEO:
            return _pairs(off, off + nbytes)
        frames = np.array([self._index.block_frames(int(q), c) for q in p.tolist()], np.int64)
        return _pairs(off, off + np.minimum(nbytes, 8 * (frames + 1)))

    def camera_frame_ranges(self, name: str, positions, first, last):
        """Frames ``first[k] .. last[k]`` (clamped to the block) of camera ``name`` in episode ``positions[k]``,
        one range each; a video block whole (decoding starts at its keyframe). For lz4 / JPEG the block's frame
        table must be readable (:meth:`camera_table_ranges`)."""
        p = self._checked_positions(positions)
        (c,) = self._columns_of([name])
        col = self._columns[c]
        blk = self._index.blocks[p, c]
        off, nbytes = blk["offset"].astype(np.int64), blk["nbytes"].astype(np.int64)
        if col.codec == L.CODEC_VIDEO:
            return _pairs(off, off + nbytes)
        n = np.array([self._index.block_frames(int(q), c) for q in p.tolist()], np.int64)
        a = np.clip(np.asarray(first, np.int64), 0, np.maximum(n - 1, 0))
        b = np.clip(np.asarray(last, np.int64), 0, np.maximum(n - 1, 0)) + 1
        if col.codec == L.CODEC_RAW:
            return _pairs(off + a * col.frame_nbytes, off + b * col.frame_nbytes)
        starts, ends = np.empty(len(p), np.int64), np.empty(len(p), np.int64)
        for k, q in enumerate(p.tolist()):
            table = np.asarray(self._index.lz4_table(self._buf, q, c))  # per-frame offsets from the block
            starts[k], ends[k] = off[k] + int(table[a[k]]), off[k] + int(table[b[k]])
        return starts, ends
