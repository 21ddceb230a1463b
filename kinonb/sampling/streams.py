"""Time: the episodes' frame clocks, streams read latest-at, and fixed-rate grids (Rerun's
``FixedRateSampling``).

Frame samples (``rate=None``). A stream key (its own frame count and times) is anchored, for the sample at
frame ``t``, on ``a`` = the last stream frame at or before the frame's time (``-1`` when none yet; times equal
within :data:`~kinonb.kernels.latest.TIME_TOLERANCE` count as equal); its window reads stream frames
``a + offset``, padded (``{key}_is_pad``, edge frame repeated) outside ``[0, n_stream)``. With
``max_staleness=s`` (seconds) an anchor more than ``s`` older than the frame pads every entry of offset
``<= 0`` (all at least that stale). Anchors are computed once per index, one int64 per sample per stream key.

Grid samples (``rate=hz``). Episode ``e``'s samples are the grid times ``g_k = t0_e + k / hz`` for ``k = 0, 1,
...`` while ``g_k <= `` the episode's last frame time (``t0_e`` its first frame time). Every key, per-frame or
stream, reads entry ``w`` latest-at at the time ``t0_e + (k + offsets[w]) / hz`` (offsets in grid steps):
padded when that time lies before the key's first time or after the episode's last frame time, or (with
``max_staleness``) more than ``s`` after the row read. A per-frame key's times are the frame clock (rows past
the clock, a final observation's row ``T``, are not on it). ``pad="none"`` and ``pad_before/after`` count grid
steps against the episode's grid, as frames against its frames.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CorruptFieldError, InvalidArgumentError
from ..kernels.latest import TIME_TOLERANCE, latest_at


class Segments:
    """Per-episode time segments: ``times[start[e] : start[e] + length[e]]`` (float64 seconds)."""

    def __init__(self, times, start, length):
        self.times, self.start, self.length = times, start, length

    def first(self) -> np.ndarray:
        return self.times[np.minimum(self.start, max(len(self.times) - 1, 0))] if len(self.times) else \
            np.zeros(len(self.start))

    def last(self) -> np.ndarray:
        return self.times[np.maximum(self.start + self.length - 1, 0)] if len(self.times) else \
            np.zeros(len(self.start))

    def at(self, sample_ep: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Times of frames ``frame`` (checked in range) of episodes ``sample_ep``."""
        return self.times[self.start[sample_ep] + frame]

    def latest(self, sample_ep: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The latest-at frame (``-1``: none) of each query time in its episode's segment."""
        out = np.empty(len(query), np.int64)
        latest_at(self.times, self.start, self.length, sample_ep, np.ascontiguousarray(query, np.float64),
                  TIME_TOLERANCE, out)
        return out


def segments(db, key, episodes: np.ndarray, expected: np.ndarray, label: str) -> Segments:
    """``db.time_blocks(key, episodes)`` checked: one segment per episode of ``expected`` frames, inside the
    times array, finite. ``label`` names the clock in messages."""
    times, start, length = db.time_blocks(key, episodes)
    times = np.ascontiguousarray(times, np.float64)
    start = np.ascontiguousarray(start, np.int64)
    length = np.ascontiguousarray(length, np.int64)
    if start.shape != (len(episodes),) or length.shape != (len(episodes),):
        raise CorruptFieldError(db.path(), None, f"{label}: one time segment per episode ({len(episodes)})",
                                f"{start.shape} / {length.shape}")
    bad = (start < 0) | (length < 0) | (start + length > len(times)) | (length != expected)
    if bad.any():
        e = int(np.flatnonzero(bad)[0])
        raise CorruptFieldError(db.path(), None, f"{label} of episode {int(episodes[e])}: {int(expected[e])} "
                                f"times inside {len(times)}", f"{int(length[e])} at {int(start[e])}")
    if not np.isfinite(times).all():
        raise CorruptFieldError(db.path(), None, f"{label}: finite times", "NaN or infinity")
    return Segments(times, start, length)


def check_rate(rate) -> float | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        raise InvalidArgumentError(f"rate must be a positive number of samples per second (Hz), got {rate!r}")
    return float(rate)


def check_staleness(max_staleness) -> float:
    """Seconds as a float; ``inf`` for None."""
    if max_staleness is None:
        return math.inf
    if isinstance(max_staleness, bool) or not isinstance(max_staleness, (int, float)) or not max_staleness >= 0:
        raise InvalidArgumentError(f"max_staleness must be a number of seconds >= 0 or None, got {max_staleness!r}")
    return float(max_staleness)


def grid_steps(clock: Segments, hz: float) -> np.ndarray:
    """Grid steps per episode: ``k = 0 ..`` with ``t0 + k / hz <= last frame time`` (0 for an empty episode)."""
    span = clock.last() - clock.first()
    steps = np.floor((span + TIME_TOLERANCE) * hz).astype(np.int64) + 1
    steps[clock.length == 0] = 0
    # no grid larger than the frame clock allows at 1 ns steps bounded by the file size check upstream
    if steps.size and steps.max() > 1 << 40:
        raise InvalidArgumentError(f"rate={hz} Hz gives {int(steps.max())} grid steps in one episode")
    return steps


class StreamAnchors:
    """A stream key's anchor frame per sample (frame mode), and which anchors are stale."""

    def __init__(self, anchor: np.ndarray, stale: np.ndarray | None):
        self.anchor = anchor
        self.stale = stale

    @classmethod
    def build(cls, clock: Segments, stream: Segments, sample_ep, sample_t, max_stale: float):
        when = clock.at(sample_ep, sample_t)
        anchor = stream.latest(sample_ep, when)
        stale = None
        if math.isfinite(max_stale):
            seen = anchor >= 0
            age = np.zeros(len(anchor))
            age[seen] = when[seen] - stream.at(sample_ep[seen], anchor[seen])
            stale = age > max_stale
            if not stale.any():
                stale = None
        return cls(anchor, stale)

    def pad_stale(self, ids, offsets, is_pad) -> None:
        """Flag the entries of offset ``<= 0`` of stale samples ``ids`` in ``is_pad``."""
        if self.stale is None:
            return
        rows = self.stale[ids]
        if rows.any():
            is_pad[rows] |= offsets[None, :] <= 0
