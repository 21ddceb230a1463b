"""Small low-dim episodes given one by one to ``Writer.add_episode``, gathered and written as one batch.

Written one at a time, a 50-frame episode cost ~120 us of Python: the full column checks, a block write and a
statistics merge per column. An episode that gives only actions, states, rewards, is_terminal and extra
columns the file already has, each a numpy array already in its column's dtype and per-frame shape with the
episode's T rows, with plain task, embodiment, fps, success, total_reward and episode_id values and nothing else,
passes every one of those checks by comparing its dtypes and shapes with the file's columns. Such an episode is
copied into per-column stage buffers and its values into lists; the stage is then written by
:func:`kinonb.store.batch_writes.write_batch`, the path of ``add_episodes``, which lays blocks, records and
strings out exactly as the loop does. Every other episode, and everything that reads or changes the writer's
pending state (commit, abort, add_episodes), writes the stage first. A stage ends at the auto-commit bounds
(``AutoCommit.room``), so auto-commits come as often as before. Ingest, merge and export go through
``add_episode`` too (``kinonb.store.transfer``), so they batch the same way.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SchemaError
from ..format import layout as L
from ..format import success as success_code
from .batch_values import BatchValues
from .episode_input import utf8

#: A stage is written once it holds this many episodes or block bytes (0 episodes: staging off).
STAGE_EPISODES = 8192
STAGE_BYTES = 4 << 20
#: Longer episodes are written at once: their per-episode overhead is small beside their bytes.
MAX_STAGED_FRAMES = 1024
ROLES = ("actions", "states", "rewards", "is_terminal")
_SUCCESS = {None: success_code.UNKNOWN, True: success_code.TRUE, False: success_code.FALSE}


class SmallEpisodes:
    """The stage of one writer; ``take`` stages an episode when it qualifies, ``flush`` writes the stage."""

    def __init__(self):
        self._layout = None  # which of ROLES are given, the layout below was made for
        self._clear()

    def _clear(self) -> None:
        self.count = self.frames = 0
        self._bytes = 0
        self._lengths, self._value_of, self._reward = [], [], []  # per staged episode
        self._values: list[tuple] = []  # distinct (task, embodiment, fps, success code); _value_of indexes it
        self._value_ids: dict[tuple, int] = {}  # (task, embodiment, fps, success) as given -> index in _values
        self._has_reward = None
        self._episode_ids: list[int] = []
        self._has_id = None
        self._room = None  # (episodes, bytes) the stage may take before it must be written

    def forget_layout(self) -> None:
        """The writer's columns changed (a new column, a new flag): look them up again at the next take."""
        self._layout = None

    def discard(self) -> None:
        self._clear()

    def take(self, w, arrays: tuple, columns, task, embodiment, fps, success, total_reward, episode_id) -> bool:
        """Stage the episode and return True, or return False (after writing the stage) when it does not qualify."""
        a0, a1, a2, a3 = arrays
        if columns:
            if type(columns) is not dict:
                return self._refuse(w)
            given = (a0 is not None, a1 is not None, a2 is not None, a3 is not None, tuple(columns))
            arrays = arrays + tuple(columns.values())
        else:
            given = (a0 is not None, a1 is not None, a2 is not None, a3 is not None, ())
        if given != self._layout and not self._look_up(w, given):
            return False
        t = None
        for a, (dtype, shape) in zip(arrays, self._kinds):
            if a is None:
                continue
            if type(a) is not np.ndarray or a.dtype != dtype or a.shape[1:] != shape:
                return self._refuse(w)
            if t is None:
                t = a.shape[0]
            elif a.shape[0] != t:
                return self._refuse(w)
        values = self._value_id(task, embodiment, fps, success, total_reward)
        if values is None or not 1 <= t <= MAX_STAGED_FRAMES or not self._id_fits(episode_id):
            return self._refuse(w)
        if self._room is None:
            self._room = w._autocommit.room(w, STAGE_EPISODES, STAGE_BYTES)
        start, end = self.frames, self.frames + t
        if end > self._capacity:
            self._grow(end)
        for a, buf in zip(arrays, self._buffers):
            if a is not None:
                buf[start:end] = a
        self.count += 1
        self.frames = end
        self._lengths.append(t)
        self._value_of.append(values)
        self._has_reward = total_reward is not None
        if self._has_reward:
            self._reward.append(total_reward)
        self._has_id = episode_id is not None
        if self._has_id:
            self._episode_ids.append(episode_id)
        nbytes = self._block_bytes.get(t)
        if nbytes is None:
            nbytes = self._block_bytes[t] = sum(L.align_up(t * row) for row in self._row_bytes)
        self._bytes += nbytes
        if self.count >= self._room[0] or self._bytes >= self._room[1]:
            self.flush(w)
            w._autocommit.commit_if_due(w)
        return True

    def _id_fits(self, episode_id) -> bool:
        if episode_id is not None and (type(episode_id) is not int or not 0 <= episode_id < 1 << 63):
            return False
        return self._has_id is None or self._has_id == (episode_id is not None)

    def _look_up(self, w, given: tuple) -> bool:
        """Find the file's columns for these roles and extra columns; False when one is missing (a new column)."""
        self.flush(w)
        ids = {col.name: i for i, col in enumerate(w._columns)}
        names = [name for name, g in zip(ROLES, given) if g] + list(given[4])
        if STAGE_EPISODES <= 0 or not names or any(name not in ids for name in names):
            return False
        if any(w._columns[ids[name]].role != L.ROLE_EXTRA for name in given[4]):
            return False  # a camera's (or another kind's) name given as an extra column: add_episode says so
        self._ids = [ids[name] if g else None for name, g in zip(ROLES, given)] + [ids[n] for n in given[4]]
        cols = [None if c is None else w._columns[c] for c in self._ids]
        self._kinds = [(None, None) if col is None else (col.dtype, col.shape) for col in cols]
        self._row_bytes = [col.dtype.itemsize * math.prod(col.shape) for col in cols if col is not None]
        self._block_bytes: dict[int, int] = {}  # frames -> the padded block bytes of such an episode
        self._buffers = [None] * len(cols)
        self._capacity = 0
        self._layout = given
        return True

    def _refuse(self, w) -> bool:
        self.flush(w)
        return False

    def _value_id(self, task, embodiment, fps, success, total_reward) -> int | None:
        """The stage's id of this episode's (task, embodiment, fps, success); None when they do not qualify."""
        if type(task) is not str or type(embodiment) is not str or type(fps) not in (float, int):
            return None
        if (success is not None and success is not True and success is not False) or (
                total_reward is not None and type(total_reward) not in (float, int)):
            return None
        if self._has_reward is not None and self._has_reward != (total_reward is not None):
            return None
        if fps == 0 and math.copysign(1.0, fps) < 0:
            return None  # -0.0 would share 0.0's key below, and the file keeps the sign as given
        key = (task, embodiment, fps, success)
        k = self._value_ids.get(key)
        if k is None:
            if not (0.0 <= fps < math.inf) or not _encodable(task) or not _encodable(embodiment):
                return None
            k = self._value_ids[key] = len(self._values)
            self._values.append((task, embodiment, float(fps), _SUCCESS[success]))
        return k

    def _grow(self, frames: int) -> None:
        self._capacity = max(frames, 2 * self._capacity, 256)
        for k, (dtype, shape) in enumerate(self._kinds):
            if dtype is not None:
                grown = np.empty((self._capacity, *shape), dtype)
                if self._buffers[k] is not None:
                    grown[: self.frames] = self._buffers[k][: self.frames]
                self._buffers[k] = grown

    def flush(self, w) -> None:
        """Write the staged episodes (pending, not committed: as if each had been added by itself)."""
        if not self.count:
            return
        from .batch_writes import write_batch  # batch_writes asks the writer's stage to flush first

        lengths = np.array(self._lengths, np.int64)
        prepared = [(c, w._columns[c], buf[: self.frames]) for c, buf in zip(self._ids, self._buffers)
                    if c is not None]
        value_of = np.array(self._value_of, np.int64)
        tasks, task_of = _distinct([v[0] for v in self._values])
        embodiments, embodiment_of = _distinct([v[1] for v in self._values])
        values = BatchValues(lengths, tasks, task_of[value_of], embodiments, embodiment_of[value_of],
                             np.array([v[2] for v in self._values], np.float64)[value_of],
                             np.array([v[3] for v in self._values], np.uint8)[value_of],
                             np.array(self._reward, np.float64) if self._has_reward else None,
                             np.array(self._episode_ids, np.uint64) if self._has_id else None)
        self._clear()
        write_batch(w, lengths, prepared, values)


def _encodable(s: str) -> bool:
    try:
        utf8("task", s)
    except SchemaError:
        return False
    return True


def _distinct(items: list) -> tuple[list, np.ndarray]:
    """The distinct items, and each item's index among them."""
    index: dict = {}
    of = np.array([index.setdefault(x, len(index)) for x in items], np.int64)
    return list(index), of
