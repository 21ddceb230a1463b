"""Equality checks for what was written and what is read back: bit for bit, dtype and shape included.

Comparing bytes makes every check NaN-aware (a NaN equals the same NaN, payload and sign included) and tells
-0.0 from 0.0. The model of a written episode is its ``add_episode`` keyword arguments plus what the file as a
whole decides: the dtype each fixed role is stored in (:func:`stored_dtypes`) and which 1.1 keys
``read_episode`` holds (:func:`file_keys`).
"""

from __future__ import annotations

import numpy as np

from ..format.schema import FIXED_ROLE_NAMES, ROLE_DTYPE_CHOICES, ROLE_DTYPES

#: The fixed roles' read_episode keys and their dtype choices (the default first).
_FIXED = {key: ROLE_DTYPE_CHOICES[role] for role, key in FIXED_ROLE_NAMES.items()}
#: Which column's frames give an episode's length T, first to last (as the writer decides).
_LENGTH_KEYS = ("actions", "timestamps", "rewards", "is_terminal", "images", "states", "columns")
#: read_episode keys a 1.1 file has when any of its episodes holds such a column.
TIMELINE_KEYS = ("timestamps", "streams", "episode_arrays")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def assert_same(got, want) -> None:
    """``got`` equals ``want``: same dtype, same shape, equal values (NaN != NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    assert np.array_equal(got, want)


def _assert_bits(got, want, what) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert same_bits(got, want), f"{what}: read {got.dtype}{got.shape}, wrote {want.dtype}{want.shape}"


def episode_length(written: dict) -> int:
    """The episode's T, as the writer decides it: the first given of actions, timestamps, rewards, ..."""
    for key in _LENGTH_KEYS:
        value = written.get(key)
        if isinstance(value, dict):
            value = next(iter(value.values()), None)
        if value is not None:
            return len(value)
    raise ValueError("an episode without per-frame columns")


def stored_dtypes(episodes, requested: dict | None = None) -> dict:
    """The dtype each fixed role of a file written from ``episodes`` (in order) is stored in: the requested one
    (``create(dtypes=)``), else the first given dtype when the role allows it, else the role's default."""
    out = {key: np.dtype(dt) for key, dt in (requested or {}).items() if key in _FIXED}
    for ep in episodes:
        for key, choices in _FIXED.items():
            if key in out or ep.get(key) is None:
                continue
            dt = np.asarray(ep[key]).dtype
            dt = dt.newbyteorder("<") if dt.byteorder == ">" else dt
            out[key] = dt if dt in choices else choices[0]
    return out


def file_keys(episodes) -> set:
    """The 1.1 keys read_episode holds in a file of ``episodes``: those any of them has a column for."""
    return {key for key in TIMELINE_KEYS for ep in episodes if ep.get(key) is not None and (
        key == "timestamps" or len(ep[key]))}


def assert_episode_equal(got: dict, written: dict, *, with_images: bool = True, dtypes: dict | None = None,
                         keys=None) -> None:
    """``got`` (from read_episode) equals the add_episode kwargs ``written``, bit for bit, and holds no other key.

    ``dtypes``: the file's dtype per fixed role (:func:`stored_dtypes`; default: each role's 1.0 dtype);
    ``keys``: the file's 1.1 read_episode keys (:func:`file_keys`; default: those ``written`` uses)."""
    dtypes = {key: np.dtype(ROLE_DTYPES[role]) for role, key in FIXED_ROLE_NAMES.items()} | (dtypes or {})
    keys = file_keys([written]) if keys is None else set(keys)
    for key in _FIXED:
        if written.get(key) is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                _assert_bits(got[key], np.asarray(written[key]).astype(dtypes[key]), key)
        else:
            assert got[key] is None, key
    extras = written.get("columns") or {}
    for name, arr in extras.items():
        _assert_bits(got[name], arr, name)
    expected = {"meta", *_FIXED, *extras, *keys} | ({"images"} if with_images else set())
    assert set(got) == expected, (sorted(got), sorted(expected))
    if with_images:
        images = written.get("images") or {}
        assert set(got["images"]) == set(images), (sorted(got["images"]), sorted(images))
        for name, frames in images.items():
            _assert_bits(got["images"][name], frames, name)
    _assert_timelines(got, written, keys)
    _assert_meta(got["meta"], written, with_images)


def _assert_timelines(got: dict, written: dict, keys: set) -> None:
    if "timestamps" in keys:
        if written.get("timestamps") is None:
            assert got["timestamps"] is None
        else:
            _assert_bits(got["timestamps"], written["timestamps"], "timestamps")
    if "streams" in keys:
        streams = written.get("streams") or {}
        assert set(got["streams"]) == set(streams), (sorted(got["streams"]), sorted(streams))
        for name, (times, values) in streams.items():
            _assert_bits(got["streams"][name][0], times, f"{name} times")
            _assert_bits(got["streams"][name][1], values, name)
    if "episode_arrays" in keys:
        arrays = written.get("episode_arrays") or {}
        assert set(got["episode_arrays"]) == set(arrays), (sorted(got["episode_arrays"]), sorted(arrays))
        for name, arr in arrays.items():
            _assert_bits(got["episode_arrays"][name], arr, name)


def _assert_meta(meta: dict, written: dict, with_images: bool) -> None:
    assert meta["task"] == written.get("task", "")
    assert meta["embodiment"] == written.get("embodiment", "")
    assert meta["success"] == written.get("success")
    assert meta["fps"] == np.float64(written.get("fps", 0.0))
    want_reward = written.get("total_reward")
    assert meta["total_reward"] == (None if want_reward is None else float(want_reward))
    assert meta["attrs"] == (written.get("attrs") or {})
    assert meta["num_frames"] == episode_length(written)
    for key, dim in (("actions", "action_dim"), ("states", "state_dim")):
        assert meta[dim] == (0 if written.get(key) is None else np.asarray(written[key]).shape[1]), dim
    assert set(meta["cameras"]) == set(written.get("images") or {})
    assert set(meta["columns"]) == set(written.get("columns") or {})
