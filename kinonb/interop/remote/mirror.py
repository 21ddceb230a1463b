"""A local sparse copy of a remote file, filled a block at a time: the block cache of remote reads.

The copy has the remote file's size; only the blocks a read needs are fetched (missing ones in one request,
runs of adjacent blocks as one range) and written into it, so the ordinary memory-mapped reader reads it as
it reads any .knb file. Bytes never fetched are holes (they cost no disk) and are never read: the remote
reader fetches every block a read touches first. When the fetched bytes pass ``cache_bytes`` the least recently
used blocks are given back (their range punched out of the file), never one the current read needs. With
``cache_dir`` the copy and its block map stay there for the next process that opens the same remote file
(same URL, size and version); without, both live in a temporary directory removed when the reader goes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .source import RangeSource

BLOCK_BYTES = 64 << 10  # small enough that sparse reads (a frame, a frame table) fetch little
CACHE_BYTES = 1 << 30
GAP_BLOCKS = 2
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Free ``length`` bytes at ``offset`` of the file (they read as zeros); False where the file system cannot."""
    fallocate = getattr(_libc, "fallocate", None)
    if fallocate is None:
        return False
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    return fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length) == 0


class SparseMirror:
    def __init__(self, source: RangeSource, *, cache_dir=None, cache_bytes: int = CACHE_BYTES,
                 block_bytes: int = BLOCK_BYTES):
        if block_bytes <= 0 or cache_bytes < 0:
            raise ValueError("block_bytes must be > 0 and cache_bytes >= 0")
        self.source, self.block, self.limit = source, int(block_bytes), int(cache_bytes)
        self.blocks = -(-source.size // self.block)
        key = hashlib.sha256(f"{source.url}\0{source.size}\0{source.version}\0{self.block}".encode()).hexdigest()
        if cache_dir is None:
            folder = Path(tempfile.mkdtemp(prefix="kinonb-remote-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, folder, True)
        else:
            folder = Path(os.fspath(cache_dir))
            folder.mkdir(parents=True, exist_ok=True)
            self._finalizer = None
        self.path = folder / f"{key[:24]}.knb"
        self._map_path = folder / f"{key[:24]}.blocks.npy"
        self._present = self._load_map()
        self._lru: OrderedDict[int, None] = OrderedDict((int(b), None) for b in np.flatnonzero(self._present))
        self._lock = threading.RLock()
        self._pinned: set[int] = set()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != source.size:
                os.ftruncate(fd, source.size)
        finally:
            os.close(fd)

    def _load_map(self) -> np.ndarray:
        """The block map of a copy ``cache_dir`` kept; a copy without a usable map is removed (its blocks are
        unknown) and the cache starts empty."""
        present = self._saved_map()
        if present is not None:
            return present
        if self.path.exists():
            self.path.unlink()
        return np.zeros(self.blocks, np.bool_)

    def _saved_map(self) -> np.ndarray | None:
        if not (self.path.exists() and self._map_path.exists() and self.path.stat().st_size == self.source.size):
            return None
        try:
            present = np.load(self._map_path)
        except (OSError, ValueError):  # a map cut or damaged by a crash
            return None
        return present if present.shape == (self.blocks,) and present.dtype == np.bool_ else None

    @property
    def cached_bytes(self) -> int:
        return int(self._present.sum()) * self.block

    def ensure(self, starts, ends, *, pin: bool = False) -> None:
        """Make the bytes of every range ``[starts[i], ends[i])`` present in the local copy; ``pin``: and never
        give them back (the header and footer, which the reader keeps views of)."""
        starts = np.clip(np.asarray(starts, np.int64), 0, self.source.size)
        ends = np.clip(np.asarray(ends, np.int64), 0, self.source.size)
        keep = ends > starts
        if not keep.any():
            return
        first, last = starts[keep] // self.block, (ends[keep] - 1) // self.block
        counts = last - first + 1  # every block of every range, without a Python loop over the ranges
        wanted = np.unique(np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum())))
        with self._lock:
            if pin:
                self._pinned.update(wanted.tolist())
            missing = wanted[~self._present[wanted]]
            if len(missing):
                self._evict(len(missing), set(wanted.tolist()))
                self._fetch(missing)
            for b in wanted.tolist():
                self._lru[b] = None
                self._lru.move_to_end(b)

    def _fetch(self, missing: np.ndarray) -> None:
        """Fetch the ``missing`` blocks (sorted): runs of them, a gap of up to GAP_BLOCKS blocks filled in (a
        present block there is written again with its same bytes), as one range each: a range request costs
        more than a few blocks' bytes."""
        gaps = np.diff(missing)
        fill = np.flatnonzero((gaps > 1) & (gaps <= GAP_BLOCKS + 1))
        if len(fill):
            missing = np.unique(np.concatenate([missing] + [np.arange(missing[i] + 1, missing[i + 1])
                                                            for i in fill.tolist()]))  # present ones rewritten
        cuts = np.flatnonzero(np.diff(missing) != 1) + 1
        runs = [(int(r[0]), int(r[-1]) + 1) for r in np.split(missing, cuts)]
        starts = [a * self.block for a, _ in runs]
        ends = [min(b * self.block, self.source.size) for _, b in runs]
        data = self.source.read(starts, ends)
        fd = os.open(self.path, os.O_RDWR)
        try:
            for at, chunk in zip(starts, data):
                view = memoryview(chunk)
                while view:
                    view = view[os.pwrite(fd, view, at + (len(chunk) - len(view))):]
        finally:
            os.close(fd)
        for a, b in runs:
            self._present[a:b] = True
        if self._finalizer is None:
            np.save(self._map_path, self._present)

    def _evict(self, incoming: int, needed: set) -> None:
        over = (int(self._present.sum()) + incoming) * self.block - self.limit
        if over <= 0:
            return
        fd = os.open(self.path, os.O_RDWR)
        try:
            for b in list(self._lru):
                if over <= 0:
                    break
                if b in needed or b in self._pinned:
                    continue
                if not punch_hole(fd, b * self.block, self.block):
                    break  # this file system keeps every block: the cache grows to the file's size
                self._present[b] = False
                del self._lru[b]
                over -= self.block
        finally:
            os.close(fd)
