"""``kinonb.open("s3://bucket/key.knb", storage_options={...})``: a .knb file in object storage (or behind any
fsspec URL), read through coalesced range requests into a bounded local block cache (:mod:`.mirror`).

Opening costs two requests after the size lookup: the header and the tail (trailer, and the footer with the
episode index when it fits in ``TAIL_BYTES``), then the rest of the footer if it did not. Every read first
fetches the blocks it touches, all missing ones in one request, then runs the ordinary memory-mapped reader
over the local copy: the same code, so the same values, bit for bit. Arrays handed out are copies (a block the
cache gives back later must not change them). Only reads that know their blocks are offered; the rest of the
reader (validate, edits, history) needs the whole file: download it.
"""

from __future__ import annotations

import threading

import numpy as np

from ...errors import FormatError, InvalidArgumentError
from ...format import layout as L
from .mirror import BLOCK_BYTES, CACHE_BYTES, SparseMirror
from .source import RangeSource

TAIL_BYTES = 1 << 20
#: Reader methods that touch only the footer (fetched at open): passed straight through.
FOOTER_ONLY = ("num_episodes", "__len__", "num_frames", "version", "summary", "read_meta", "schema", "column_names",
               "camera_names", "stats", "meta_table", "query", "query_positions", "episode_lengths", "stream_names",
               "commit_seq", "ignored_bytes", "format_name", "block_ranges", "episode_extents")


def is_remote(path) -> bool:
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


class RemoteDatabase:
    """A remote .knb file; see the module docstring. ``cache_bytes`` bounds the local copy (default 1 GiB),
    ``cache_dir`` keeps it between processes, ``block_bytes`` is the fetch granularity."""

    format_name = "knb"

    def __init__(self, url: str, *, storage_options: dict | None = None, cache_bytes: int = CACHE_BYTES,
                 cache_dir=None, block_bytes: int = BLOCK_BYTES, access: str = "random"):
        from ...store.reader import Database

        self.url, self.storage_options = url, dict(storage_options or {})
        self._options = {"cache_bytes": cache_bytes, "cache_dir": cache_dir, "block_bytes": block_bytes,
                         "access": access}
        self.source = RangeSource(url, self.storage_options)
        size = self.source.size
        if size < L.HEADER.itemsize + L.TRAILER.itemsize:
            raise FormatError(url, 0, "a .knb file (header, footer, trailer)", f"{size} bytes")
        self.mirror = SparseMirror(self.source, cache_dir=cache_dir, cache_bytes=cache_bytes, block_bytes=block_bytes)
        self.mirror.ensure([0, max(0, size - TAIL_BYTES)], [L.HEADER.itemsize, size])  # one request
        self.mirror.ensure([0], [L.HEADER.itemsize], pin=True)  # present now: pinned, not fetched again
        self._ensure_footer(size)
        self._lock = threading.RLock()
        self._db = Database(self.mirror.path, access=access)

    def _ensure_footer(self, size: int) -> None:
        """Fetch the footer the trailer at the end names (if the tail did not hold it)."""
        at = (size - L.TRAILER.itemsize) // L.ALIGNMENT * L.ALIGNMENT
        with open(self.mirror.path, "rb") as f:
            f.seek(at)
            raw = f.read(L.TRAILER.itemsize)
        if raw[:8] != L.TRAILER_MAGIC:
            raise FormatError(self.url, at, "an intact last commit's trailer (remote files are read as committed)",
                              raw[:8].hex(), "download the file and run `kinonb validate --repair` on it")
        t = L.record(raw, L.TRAILER)
        offset, length = int(t["footer_offset"]), int(t["footer_length"])
        if not 0 <= offset <= offset + length <= size:
            raise FormatError(self.url, at, f"a footer inside the file's {size} bytes",
                              f"offset {offset}, length {length}")
        self.mirror.ensure([offset], [min(size, offset + length + L.TRAILER.itemsize)], pin=True)

    def __reduce__(self):
        return (_reopen, (self.url, self.storage_options, self._options))

    def __getattr__(self, name):
        if name in FOOTER_ONLY:
            return getattr(self._db, name)
        raise AttributeError(f"{name!r}: not offered for a remote file ({self.url}); the remote reader offers "
                             f"read_episode, read_episode_actions_only, frames, sample_index and the metadata")

    def __len__(self) -> int:
        return len(self._db)

    # ---- reads that fetch what they touch first ------------------------------------------------------------
    def _ensure(self, ranges) -> None:
        self.mirror.ensure(*ranges)

    def read_episode(self, i: int, *, raw_frames: bool = False) -> dict:
        with self._lock:
            self._ensure(self._db.block_ranges([i]))
            return _copied(self._db.read_episode(i, raw_frames=raw_frames))

    def read_episode_actions_only(self, i: int) -> dict:
        with self._lock:
            self._ensure(self._db.block_ranges([i], cameras=False))
            return _copied(self._db.read_episode_actions_only(i))

    def frames(self, i: int, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        with self._lock:
            self._ensure(self._db.block_ranges([i], columns=[key]))
            return np.array(self._db.frames(i, key, start, stop))

    def sample_index(self, windows: dict, **options):
        """Building the index reads every frame clock and the frame table at the head of each compressed
        camera block (a video block whole): those are fetched first, in one request."""
        episodes = np.arange(len(self._db)) if options.get("episodes") is None else \
            np.asarray(options["episodes"], np.int64).reshape(-1)
        parts = [self._db.clock_ranges(episodes)]
        parts += [self._db.camera_table_ranges(name, episodes) for name in windows if name in self._cameras]
        with self._lock:
            self.mirror.ensure(np.concatenate([s for s, _ in parts]), np.concatenate([e for _, e in parts]))
            return RemoteSampleIndex(self, self._db.sample_index(windows, **options))

    @property
    def _cameras(self) -> set:
        return set(self._db.camera_names())

    @property
    def requests(self) -> int:
        return self.source.counts.requests


class RemoteSampleIndex:
    """A :class:`kinonb.sampling.SampleIndex` whose ``read`` first fetches what its samples touch: the low-dim
    blocks of their episodes, and of each camera only the frames of the samples' windows."""

    fetches = True

    def __init__(self, remote: RemoteDatabase, index):
        self._remote, self._index = remote, index
        self._cameras = [(name, int(np.min(k.offsets)), int(np.max(k.offsets)))
                         for name, k in index.keys.items() if k.is_camera]

    def __getattr__(self, name):
        return getattr(self._index, name)

    def __len__(self) -> int:
        return len(self._index)

    def prefetch(self) -> int:
        """Fetch the low-dim blocks of every episode of this index now, in one request, when they take at most
        half the block cache (a first epoch of low-dim windows is then served locally); returns the bytes."""
        starts, ends = self._remote._db.block_ranges(np.unique(self._index.sample_episodes), cameras=False)
        total = int((ends - starts).sum())
        if not total or total > self._remote.mirror.limit // 2:
            return 0
        with self._remote._lock:
            self._remote.mirror.ensure(starts, ends)
        return total

    def read(self, sample_ids, **options) -> dict:
        ids = np.asarray(sample_ids, np.int64).reshape(-1)
        if len(ids) and (ids.min() < -len(self._index) or ids.max() >= len(self._index)):
            raise InvalidArgumentError(f"sample_ids must lie in [0, {len(self._index)})")
        inner = self._remote._db
        episodes = self._index.sample_episodes[ids]
        parts = [inner.block_ranges(np.unique(episodes), cameras=False)]
        for name, lo, hi in self._cameras:
            if self._index.rate is not None:  # grid samples: their frames are found at read time
                parts.append(inner.block_ranges(np.unique(episodes), columns=[name]))
            else:
                t = self._index.sample_frames[ids]
                parts.append(inner.camera_frame_ranges(name, episodes, t + lo, t + hi))
        with self._remote._lock:
            self._remote.mirror.ensure(np.concatenate([s for s, _ in parts]), np.concatenate([e for _, e in parts]))
            return self._index.read(sample_ids, **options)


def _copied(ep: dict) -> dict:
    """The episode with every array copied out of the map (nested dicts and (times, values) pairs too)."""
    def copy(v):
        if isinstance(v, np.ndarray):
            return np.array(v)
        if isinstance(v, dict):
            return {k: copy(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return tuple(copy(x) for x in v)
        return v
    return {k: copy(v) for k, v in ep.items()}


def _reopen(url, storage_options, options):
    return RemoteDatabase(url, storage_options=storage_options, **options)
