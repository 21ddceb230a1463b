"""The per-episode values of ``Writer.add_episodes``, checked for the whole batch before anything is written.

Each value is one for every episode (a str, a number, a bool, None) or a sequence of one per episode; the rules
are ``add_episode``'s (:mod:`kinonb.store.episode_input`), applied to the distinct values only where they are
strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SchemaError
from ..format import layout as L
from ..format import success as success_code
from .episode_input import check_episode_meta, nonneg_int, real_number


@dataclass(frozen=True)
class BatchValues:
    lengths: np.ndarray  # int64 (N,)
    tasks: list[str]  # distinct tasks; task_index[i] is episode i's
    task_index: np.ndarray
    embodiments: list[str]
    embodiment_index: np.ndarray
    fps: np.ndarray  # float64 (N,)
    success: np.ndarray  # uint8 (N,) codes
    total_reward: np.ndarray | None  # float64 (N,), or None: no episode has one
    episode_id: np.ndarray | None  # uint64 (N,), or None: the writer numbers them


def batch_lengths(lengths) -> np.ndarray:
    arr = np.asarray(lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise SchemaError(f"lengths must be a 1-d sequence of integers (frames per episode), got {arr.dtype} "
                          f"shape {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 1 or arr.max() > L.MAX_FRAMES):
        bad = int(np.flatnonzero((arr < 1) | (arr > L.MAX_FRAMES))[0])
        raise SchemaError(f"lengths[{bad}] = {int(arr[bad])}: every episode needs 1 to {L.MAX_FRAMES} frames")
    return arr


def batch_values(lengths: np.ndarray, task, embodiment, fps, success, total_reward, episode_id) -> BatchValues:
    n = len(lengths)
    tasks, task_index = _strings("task", task, n)
    embodiments, embodiment_index = _strings("embodiment", embodiment, n)
    fps_arr = _numbers("fps", fps, n)
    if not np.isfinite(fps_arr).all() or (fps_arr < 0).any():
        bad = int(np.flatnonzero(~np.isfinite(fps_arr) | (fps_arr < 0))[0])
        raise SchemaError(f"fps[{bad}] must be finite and >= 0, got {fps_arr[bad]}")
    reward = None if total_reward is None else _numbers("total_reward", total_reward, n)
    return BatchValues(lengths, tasks, task_index, embodiments, embodiment_index, fps_arr, _success(success, n),
                       reward, _episode_ids(episode_id, n))


def _per_episode(label: str, value, n: int) -> list | None:
    """``value`` as a list of n, or None when it is one value for every episode."""
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0:
        return None
    items = list(value)
    if len(items) != n:
        raise SchemaError(f"{label}: one value for every episode or a sequence of {n} (one per episode), got "
                          f"{len(items)}")
    return items


def _strings(label: str, value, n: int) -> tuple[list[str], np.ndarray]:
    items = _per_episode(label, value, n)
    if items is None:
        _check_string(label, value)
        return [value], np.zeros(n, np.int64)
    try:
        distinct = list(dict.fromkeys(items))  # C speed; each distinct value is then checked once
    except TypeError:  # an unhashable item, which is no string
        distinct = [s for s in items if not isinstance(s, str)][:1]
    for s in distinct:
        try:
            _check_string(label, s)
        except SchemaError as e:
            i = next(i for i, item in enumerate(items) if item is s or (type(item) is type(s) and item == s))
            raise SchemaError(f"{label}[{i}]: {e}") from None
    codes = {s: k for k, s in enumerate(distinct)}
    return distinct, np.fromiter(map(codes.__getitem__, items), np.int64, n)


def _check_string(label: str, s) -> None:
    """add_episode's rule for a task or embodiment string."""
    check_episode_meta(s, "", 0.0) if label == "task" else check_episode_meta("", s, 0.0)


def _numbers(label: str, value, n: int) -> np.ndarray:
    items = _per_episode(label, value, n)
    if items is None:
        return np.full(n, real_number(label, value), np.float64)
    arr = np.asarray(items)
    if arr.dtype.kind not in "iuf":
        for i, v in enumerate(items):
            real_number(f"{label}[{i}]", v)  # names the first bad one
    return arr.astype(np.float64)


def _success(value, n: int) -> np.ndarray:
    items = _per_episode("success", value, n)
    if items is None:
        return np.full(n, success_code.encode(value), np.uint8)
    arr = np.asarray(items)
    if arr.dtype == np.bool_:
        return np.where(arr, success_code.TRUE, success_code.FALSE).astype(np.uint8)
    return np.array([success_code.encode(v, f"success[{i}]") for i, v in enumerate(items)], np.uint8)


def _episode_ids(value, n: int) -> np.ndarray | None:
    if value is None:
        return None
    items = _per_episode("episode_id", value, n)
    if items is None:
        raise SchemaError("episode_id: give one id per episode (a sequence), or None to number them")
    arr = np.asarray(items)
    if arr.dtype.kind in "iu" and (not arr.size or (int(arr.min()) >= 0 and int(arr.max()) < 1 << 63)):
        return arr.astype(np.uint64)
    return np.array([nonneg_int(f"episode_id[{i}]", v) for i, v in enumerate(items)], np.uint64)
