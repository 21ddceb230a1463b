"""The sample index: which (episode, frame) pairs are training samples for a set of windows.

A sample is a frame ``t`` of an episode of length ``L``, with ``0 <= t < L``. Each key reads the frames
``t + offset`` for its window offsets; ``lo`` and ``hi`` are the smallest and largest offset over all keys
(``horizon = hi - lo + 1``). Only ``lo`` and ``hi`` decide which ``t`` are kept.

``pad="edge"`` (LeRobot, diffusion_policy): windows may leave the episode; the gather repeats the edge frame
and flags it in ``is_pad``. ``pad_before`` / ``pad_after`` (``None`` = unlimited) bound how many frames a
window may reach before frame 0 / after frame ``L - 1``. The kept frames of one episode are::

    first = max(0, -lo - pad_before)            # t + lo >= -pad_before
    last  = min(L - 1, L - 1 - hi + pad_after)  # t + hi <= L - 1 + pad_after
    count = max(0, last - first + 1)

so with both limits ``None`` every frame is a sample (``count = L``), and when ``pad_before <= -lo`` and
``pad_after <= hi`` (diffusion_policy's own settings: ``lo = -(n_obs_steps - 1)``,
``pad_before = n_obs_steps - 1``, ``pad_after = n_action_steps - 1 <= hi``) the count is exactly
diffusion_policy's ``max(0, L - horizon + pad_before + pad_after + 1)``. Larger limits change nothing more:
a sample's own frame ``t`` always lies in the episode, whereas diffusion_policy, which has no anchor frame,
would also emit windows anchored before frame 0 or after frame ``L - 1``.

``pad="none"`` (Rerun-style): keep ``t`` only if every ``t + offset`` lies in ``[0, L)``; this is
``pad="edge"`` with ``pad_before = pad_after = 0``: ``count = max(0, min(L, L - hi) - max(0, -lo))``.
"""

from __future__ import annotations

import operator

import numpy as np

from ..errors import InvalidArgumentError

# Offsets and lengths are bounded so that no sum below can overflow int64.
_LIMIT = 1 << 62
_UNLIMITED = -1


def sample_index_arrays(lengths: np.ndarray, lo: int, hi: int, pad_before: int, pad_after: int):
    """``(ep, t)`` of every sample, in episode then frame order. ``pad_before/after == -1`` means unlimited.

    Episode ``e`` keeps frames ``first .. last`` with ``first = max(0, -lo - pad_before)`` and
    ``last = min(L - 1, L - 1 - hi + pad_after)``. Vectorised NumPy rather than a kernel: it runs once per
    index, and a kernel would cost a second or two of compilation on a fresh machine.
    """
    first = np.zeros(len(lengths), np.int64)
    last = lengths - 1
    if pad_before != _UNLIMITED:
        first = np.maximum(first, -lo - pad_before)
    if pad_after != _UNLIMITED:
        last = np.minimum(last, lengths - 1 - hi + pad_after)
    counts = np.maximum(last - first + 1, 0)
    ep = np.repeat(np.arange(len(lengths), dtype=np.int64), counts)
    begin = np.cumsum(counts) - counts  # position of each episode's first sample
    t = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(begin - first, counts)
    return ep, t


def _int(name, value, minimum=-_LIMIT):
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be an int, got {type(value).__name__}") from None
    if isinstance(value, bool) or not minimum <= v <= _LIMIT:
        raise InvalidArgumentError(f"{name} must be an int in [{minimum}, 2**62], got {value!r}")
    return v


def build_sample_index(lengths, offsets_lo, offsets_hi, pad="edge", pad_before=None, pad_after=None):
    """Return ``(ep, t)``, two int64 arrays: sample ``i`` is frame ``t[i]`` of episode position ``ep[i]``.

    ``lengths`` holds the frame count of each episode, ``offsets_lo <= offsets_hi`` the extreme window
    offsets over all keys. Samples are ordered by episode, then frame. See the module docstring for the
    exact frames kept per episode.
    """
    lens = np.asarray(lengths)
    if lens.ndim != 1 or not (lens.dtype.kind in "iu" or lens.size == 0):
        raise InvalidArgumentError(f"lengths must be a 1-D integer array, got shape {lens.shape} dtype {lens.dtype}")
    lens = lens.astype(np.int64, copy=False)
    if lens.size and (lens.min() < 0 or lens.max() > _LIMIT):
        raise InvalidArgumentError(f"lengths must lie in [0, 2**62], found {lens.min()}..{lens.max()}")
    lo = _int("offsets_lo", offsets_lo)
    hi = _int("offsets_hi", offsets_hi)
    if lo > hi:
        raise InvalidArgumentError(f"offsets_lo ({lo}) must be <= offsets_hi ({hi})")
    if pad == "none":
        if pad_before is not None or pad_after is not None:
            raise InvalidArgumentError('pad_before/pad_after apply to pad="edge" only; pad="none" allows no padding')
        before = after = 0
    elif pad == "edge":
        before = _UNLIMITED if pad_before is None else _int("pad_before", pad_before, 0)
        after = _UNLIMITED if pad_after is None else _int("pad_after", pad_after, 0)
    else:
        raise InvalidArgumentError(f'pad must be "edge" or "none", got {pad!r}')
    return sample_index_arrays(np.ascontiguousarray(lens), lo, hi, before, after)
