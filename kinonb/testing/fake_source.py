"""An in-memory :class:`kinonb.protocol.SampleSource` over numpy arrays, and the plain-NumPy reference of what
``SampleIndex`` reads from it (mixed widths, own frame counts, streams, fixed-rate grids).

``FakeSource(episodes)`` takes one dict per episode::

    {"length": T,                                   # frames of the episode
     "columns": {"actions": (T, A_e) array, ...},   # per-frame keys (own frame count allowed: T + 1 rows)
     "streams": {"imu": (times (n,), values (n, ...))},
     "timestamps": (T,) float64 seconds or None,    # else frame / fps
     "fps": 10.0}

A key an episode leaves out is absent from it. Buffers are laid out like a file's: one uint8 buffer per key,
each episode's rows at an aligned start. :func:`reference_read` is the semantics of ``SampleIndex.read``
written as plain loops, read straight from the episode dicts.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from ..format import layout as L
from ..format.schema import Column
from ..kernels.latest import TIME_TOLERANCE
from ..protocol import ColumnBlocks

ROLE_STREAM = L.ROLE_STREAM
_ROLES = {"actions": L.ROLE_ACTIONS, "states": L.ROLE_STATES, "rewards": L.ROLE_REWARDS}


class FakeSource:
    """A SampleSource over ``episodes`` (see the module docstring)."""

    def __init__(self, episodes: list, path: str = "fake.knb"):
        self.episodes = episodes
        self._path = path
        self._lengths = np.array([ep["length"] for ep in episodes], np.int64)
        self._keys = {}
        for ep in episodes:
            for k, v in ep.get("columns", {}).items():
                self._keys.setdefault(k, (_ROLES.get(k, L.ROLE_EXTRA), np.asarray(v).dtype))
            for k, (_, v) in ep.get("streams", {}).items():
                self._keys.setdefault(k, (ROLE_STREAM, np.asarray(v).dtype))

    def path(self) -> str:
        return self._path

    def num_episodes(self) -> int:
        return len(self.episodes)

    def episode_lengths(self, episodes=None) -> np.ndarray:
        return self._lengths.copy() if episodes is None else self._lengths[np.asarray(episodes, np.int64)]

    def values(self, p: int, key: str):
        """Episode ``p``'s rows of ``key`` (None when absent)."""
        ep = self.episodes[p]
        if key in ep.get("columns", {}):
            return np.asarray(ep["columns"][key])
        if key in ep.get("streams", {}):
            return np.asarray(ep["streams"][key][1])
        return None

    def clock(self, p: int) -> np.ndarray:
        ep = self.episodes[p]
        if ep.get("timestamps") is not None:
            return np.asarray(ep["timestamps"], np.float64)
        if not ep.get("fps"):
            raise InvalidArgumentError(f"{self._path}: episode {p} has neither timestamps nor fps")
        return np.arange(ep["length"], dtype=np.float64) / ep["fps"]

    def column_blocks(self, key: str, episodes: np.ndarray) -> ColumnBlocks:
        if key not in self._keys:
            raise InvalidArgumentError(f"unknown key {key!r} in {self._path}; columns: {sorted(self._keys)}")
        role, dtype = self._keys[key]
        arrays = []
        for p in np.asarray(episodes, np.int64).tolist():
            v = self.values(p, key)
            if v is None:
                raise InvalidArgumentError(f"key {key!r} is absent from episode {p}; filter episodes with "
                                           f"episodes=db.query(...) to those that have it")
            arrays.append(np.ascontiguousarray(v, dtype))
        counts = np.array([len(a) for a in arrays], np.int64)
        shapes = np.array([a.shape[1:] for a in arrays], np.int64).reshape(len(arrays), -1)
        sizes = np.array([a.nbytes for a in arrays], np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(arrays) else sizes
        buffer = np.frombuffer(b"".join(a.tobytes() for a in arrays) + b"\0" * dtype.itemsize, np.uint8)
        shape = tuple(int(s) for s in shapes[0]) if len(arrays) else ()
        column = Column(key, role, dtype, shape)
        lengths = self._lengths[np.asarray(episodes, np.int64)]
        own = role == ROLE_STREAM or not np.array_equal(counts, lengths)
        variable = len(arrays) > 0 and not (shapes == shapes[0]).all()
        return ColumnBlocks(column, buffer, starts, frame_counts=counts if own else None,
                            shapes=shapes if variable else None)

    def time_blocks(self, key, episodes):
        eps = np.asarray(episodes, np.int64).tolist()
        if key is None:
            segs = [self.clock(p) for p in eps]
        else:
            if key not in self._keys or self._keys[key][0] != ROLE_STREAM:
                raise InvalidArgumentError(f"{key!r} is not a stream of {self._path}")
            segs = [np.asarray(self.episodes[p]["streams"][key][0], np.float64) for p in eps]
        lengths = np.array([len(s) for s in segs], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(segs) else lengths
        times = np.concatenate(segs) if segs else np.zeros(0)
        return times, starts, lengths


# -- the reference -------------------------------------------------------------------------------------------
def _latest(times, q) -> int:
    """Last index with ``times[i] <= q + tol``, or -1."""
    i = -1
    for j, t in enumerate(times):
        if t <= q + TIME_TOLERANCE:
            i = j
    return i


def reference_samples(src: FakeSource, windows: dict, episodes, *, pad="edge", rate=None):
    """``[(position, t or grid step k)]`` in index order. Frame mode: the windows of per-frame keys decide
    ``pad="none"``; rate mode: every key's offsets (in grid steps) against the grid's steps."""
    out = []
    for p in episodes:
        if rate is None:
            per_frame = [o for k, o in windows.items() if k not in src.episodes[p].get("streams", {})]
            n = src.episodes[p]["length"]
        else:
            per_frame = list(windows.values())
            clock = src.clock(p)
            n = 0 if not len(clock) else int(np.floor((clock[-1] - clock[0] + TIME_TOLERANCE) * rate)) + 1
        offs = [o for w in per_frame for o in w] or [0]
        for t in range(n):
            if pad == "none" and not all(0 <= t + o < n for o in offs):
                continue
            out.append((p, t))
    return out


def _entry(src, p, key, t, o, *, rate, max_staleness):
    """(frame index read, is_pad) of window offset ``o`` of sample ``t`` (frame, or grid step)."""
    values = src.values(p, key)
    stream = key in src.episodes[p].get("streams", {})
    times = np.asarray(src.episodes[p]["streams"][key][0], np.float64) if stream else None
    clock = src.clock(p) if (stream or rate) else None
    if rate is not None:
        q = clock[0] + (t + o) / rate
        seg = times if stream else clock[: len(values)]
        f = _latest(seg, q)
        pad = f < 0 or q > clock[-1] + TIME_TOLERANCE or (max_staleness is not None and f >= 0 and
                                                           q - seg[f] > max_staleness)
        return max(f, 0), pad
    if stream:
        a = _latest(times, clock[t])
        f = a + o
        stale = max_staleness is not None and a >= 0 and clock[t] - times[a] > max_staleness
        return min(max(f, 0), len(values) - 1), f < 0 or f >= len(values) or (stale and o <= 0)
    f = t + o
    return min(max(f, 0), len(values) - 1), f < 0 or f >= len(values)


def reference_read(src: FakeSource, windows: dict, samples: list, episodes, *, rate=None, max_staleness=None,
                   pad_dims=None) -> dict:
    """What ``SampleIndex.read`` returns for ``samples`` (``[(position, t)]``) of an index over ``episodes``,
    as plain loops. A key is padded with ``{key}_dim_mask`` when its width differs between ``episodes`` (to
    the batch's widest) or ``pad_dims`` names it."""
    out = {}
    for key, offs in windows.items():
        rows, pads, dims = [], [], []
        for p, t in samples:
            values = src.values(p, key)
            entries = [_entry(src, p, key, t, o, rate=rate, max_staleness=max_staleness) for o in offs]
            rows.append(np.stack([values[f] for f, _ in entries]))
            pads.append([pd for _, pd in entries])
            dims.append(values.shape[-1] if values.ndim > 1 else None)
        widths = {src.values(p, key).shape[-1] for p in episodes if src.values(p, key).ndim > 1}
        fixed = isinstance(pad_dims, dict) and key in pad_dims
        if len(widths) > 1 or fixed:
            width = pad_dims[key] if fixed else max(dims)
            padded = np.zeros((len(rows), len(offs), *rows[0].shape[1:-1], width), rows[0].dtype)
            for b, r in enumerate(rows):
                padded[b, ..., : r.shape[-1]] = r
            out[key] = padded
            out[f"{key}_dim_mask"] = np.arange(width)[None, :] < np.array(dims)[:, None]
        else:
            out[key] = np.stack(rows)
        out[f"{key}_is_pad"] = np.array(pads, bool).reshape(len(samples), len(offs))
    return out
