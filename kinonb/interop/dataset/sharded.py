"""``ShardedDatabase``: the shards of a dataset as one reader (:class:`kinonb.protocol.EpisodeReader`).

Episode positions run through shard 0, then shard 1, and so on (``shard_offsets[s]`` is shard ``s``'s first
position); every reader method takes and answers dataset positions, so merge, export, KQL, the torch layer and
the CLI read a dataset exactly as they read one file. Open one with :func:`kinonb.open_dataset`.
"""

from __future__ import annotations

import numpy as np

from ...errors import ArgumentTypeError
from ...query import Queryable
from ...store.reader import checked_position
from .meta import concat_tables
from .sample_index import ShardedSampleIndex


class ShardedDatabase(Queryable):
    """Shards (opened readers, in dataset order) read as one; ``location`` names the dataset in messages and
    ``reopen`` (a picklable callable) opens it again in another process."""

    format_name = "knb"

    def __init__(self, shards: list, location: str, *, shard_paths: list[str], reopen=None):
        self.shards = list(shards)
        self.shard_paths = list(shard_paths)
        self.location = str(location)
        counts = np.array([s.num_episodes() for s in self.shards], np.int64)
        self.shard_offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._n = int(counts.sum())
        self._reopen = reopen
        self._table = None

    def __reduce__(self):
        if self._reopen is None:
            raise ArgumentTypeError(f"{self.location}: this dataset view cannot be pickled (open it with "
                                    f"kinonb.open_dataset)")
        return self._reopen

    def close(self) -> None:
        for s in self.shards:
            getattr(s, "close", lambda: None)()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- positions -------------------------------------------------------------------------------------------
    def locate(self, i) -> tuple[int, int]:
        """(shard number, position in that shard) of dataset position ``i`` (negative counts from the end)."""
        p = checked_position(i, self._n, self.location)
        s = int(np.searchsorted(self.shard_offsets, p, side="right") - 1)
        return s, p - int(self.shard_offsets[s])

    def _split(self, episodes) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """[(shard, local positions, where they sit in ``episodes``)] for checked dataset positions."""
        shard_of = np.searchsorted(self.shard_offsets, episodes, side="right") - 1
        out = []
        for s in np.unique(shard_of).tolist():
            sel = np.flatnonzero(shard_of == s)
            out.append((s, episodes[sel] - self.shard_offsets[s], sel))
        return out

    # -- the reader ------------------------------------------------------------------------------------------
    def num_episodes(self) -> int:
        return self._n

    def __len__(self) -> int:
        return self._n

    def num_frames(self) -> int:
        return sum(s.num_frames() for s in self.shards)

    def path(self) -> str:
        return self.location

    def version(self) -> str:
        versions = sorted({s.version() for s in self.shards})
        return versions[0] if len(versions) == 1 else "mixed " + "/".join(versions)

    @property
    def commit_seq(self) -> None:
        """None: a dataset has no one commit; each shard's is in :attr:`shard_commits`."""
        return None

    @property
    def shard_commits(self) -> list:
        return [s.commit_seq for s in self.shards]

    @property
    def ignored_bytes(self) -> int:
        return sum(s.ignored_bytes for s in self.shards)

    def summary(self) -> str:
        return "\n".join([
            f"kinonb dataset: {self.location}",
            f"  shards:   {len(self.shards)}",
            f"  episodes: {self._n}",
            f"  frames:   {self.num_frames()}",
            f"  columns:  {', '.join(self.column_names()) or 'none'}",
            f"  cameras:  {', '.join(self.camera_names()) or 'none'}",
        ])

    def read_meta(self, i) -> dict:
        s, p = self.locate(i)
        return self.shards[s].read_meta(p)

    def read_episode(self, i, **options) -> dict:
        s, p = self.locate(i)
        return self.shards[s].read_episode(p, **options)

    def read_episode_actions_only(self, i) -> dict:
        s, p = self.locate(i)
        return self.shards[s].read_episode_actions_only(p)

    def frames(self, i, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        s, p = self.locate(i)
        return self.shards[s].frames(p, key, start, stop)

    def schema(self) -> list[dict]:
        """The first shard's columns, then the columns later shards add (by name)."""
        seen, out = set(), []
        for s in self.shards:
            for col in s.schema():
                if col["name"] not in seen:
                    seen.add(col["name"])
                    out.append(col)
        return out

    def column_names(self) -> list[str]:
        return list(dict.fromkeys(n for s in self.shards for n in s.column_names()))

    def camera_names(self) -> list[str]:
        return list(dict.fromkeys(n for s in self.shards for n in s.camera_names()))

    def stream_names(self) -> list[str]:
        return list(dict.fromkeys(n for s in self.shards for n in s.stream_names()))

    def episode_lengths(self, episodes=None) -> np.ndarray:
        if episodes is None:
            parts = [s.episode_lengths() for s in self.shards]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        eps = np.asarray(episodes, np.int64).reshape(-1)
        out = np.empty(len(eps), np.int64)
        for s, local, sel in self._split(eps):
            out[sel] = self.shards[s].episode_lengths(local)
        return out

    def meta_table(self):
        """Every shard's metadata table end to end: what KQL evaluates (built once)."""
        if self._table is None:
            self._table = concat_tables([s.meta_table() for s in self.shards])
        return self._table

    def sample_index(self, windows: dict, *, pad: str = "edge", episodes=None, pad_before=None, pad_after=None,
                     pad_dims=None, missing: str = "error", rate=None, max_staleness=None):
        """Window samples over every shard: :class:`ShardedSampleIndex` (the options of
        :meth:`kinonb.Database.sample_index`; ``episodes`` are dataset positions)."""
        return ShardedSampleIndex(self, windows, episodes=episodes, pad=pad, pad_before=pad_before,
                                  pad_after=pad_after, pad_dims=pad_dims, missing=missing, rate=rate,
                                  max_staleness=max_staleness)
