"""What a .knb reader adds for format 1.1's time axis: frame timestamps, streams at their own rate, and
episode arrays, in ``read_episode`` and as :meth:`SampleSource.time_blocks` for latest-at sampling."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from ..format import layout as L
from ..format.schema import stream_times_name

_NS = 1e-9


def as_seconds(times: np.ndarray) -> np.ndarray:
    """float64 seconds from float64 seconds or int64 nanoseconds."""
    return times if times.dtype == np.float64 else times.astype(np.float64) * _NS


class Timelines:
    """Mixed into :class:`kinonb.store.Database`: it provides ``_index``, ``_columns``, ``_col_by_name``,
    ``_by_role``, ``_column`` and ``_path``."""

    def _add_timelines(self, ep: dict, p: int, row: list) -> None:
        """Add ``timestamps``, ``streams`` and ``episode_arrays`` to a read_episode dict, each only when the file
        has such columns (so 1.0 files read back exactly as before)."""
        present = lambda c: bool(row[c][3] & L.BLOCK_PRESENT)  # noqa: E731
        by_role = self._by_role
        if by_role[L.ROLE_TIMESTAMPS]:
            c = by_role[L.ROLE_TIMESTAMPS][0]
            ep["timestamps"] = self._column(p, c, row[c]) if present(c) else None
        if by_role[L.ROLE_STREAM]:
            streams = {}
            for c in by_role[L.ROLE_STREAM]:
                name = self._columns[c].name
                t = self._col_by_name.get(stream_times_name(name))
                if present(c) and t is not None and present(t):
                    streams[name] = (self._column(p, t, row[t]), self._column(p, c, row[c]))
            ep["streams"] = streams
        if by_role[L.ROLE_EPISODE_ARRAY]:
            # [0, ...]: a 0-d array view even for a scalar episode array ([0] would give a numpy scalar, a copy).
            ep["episode_arrays"] = {self._columns[c].name: self._column(p, c, row[c])[0, ...]
                                    for c in by_role[L.ROLE_EPISODE_ARRAY] if present(c)}

    def stream_names(self) -> list[str]:
        return [self._columns[c].name for c in self._by_role[L.ROLE_STREAM]]

    def time_blocks(self, key: str | None, episodes: np.ndarray):
        """See :meth:`kinonb.protocol.SampleSource.time_blocks`."""
        episodes = np.asarray(episodes, np.int64)
        self._index.ensure_many(episodes)
        if key is None:
            return self._frame_clock(episodes)
        if key not in self.stream_names():
            raise InvalidArgumentError(f"{key!r} is not a stream of {self._path}; streams: {self.stream_names()}")
        return self._concat(self._col_by_name[stream_times_name(key)], episodes, key)

    def _frame_clock(self, episodes: np.ndarray):
        """Each episode's frame times: its timestamps column, else frame / fps."""
        stamps = self._by_role[L.ROLE_TIMESTAMPS]
        c = stamps[0] if stamps else None
        parts = []
        for p in episodes.tolist():
            if c is not None and self._index.blocks[p, c]["flags"] & L.BLOCK_PRESENT:
                parts.append(as_seconds(np.asarray(self._column(p, c))))
                continue
            rec = self._index.episodes[p]
            if not rec["fps"] > 0:
                raise InvalidArgumentError(f"episode {p} of {self._path} has neither timestamps nor an fps: its "
                                           f"frames have no times to align streams or a rate grid to")
            parts.append(np.arange(int(rec["num_frames"]), dtype=np.float64) / float(rec["fps"]))
        return _joined(parts)

    def _concat(self, c: int, episodes: np.ndarray, what: str):
        present = (self._index.blocks[episodes, c]["flags"] & L.BLOCK_PRESENT) != 0
        if not present.all():
            bad = int(episodes[np.flatnonzero(~present)[0]])
            raise InvalidArgumentError(f"episode {bad} of {self._path} has no {what}; filter episodes with "
                                       f"episodes=db.query(...) to those that have it")
        return _joined([as_seconds(np.asarray(self._column(int(p), c))) for p in episodes])


def _joined(parts: list[np.ndarray]):
    """(times, starts, lengths) of per-episode time arrays, concatenated."""
    lengths = np.array([len(x) for x in parts], np.int64)
    starts = np.zeros(len(parts), np.int64)
    if len(parts) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    times = np.concatenate(parts) if parts else np.zeros(0, np.float64)
    return times, starts, lengths
