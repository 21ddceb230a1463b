"""Equality checks for what was written and what is read back: bit for bit, dtype and shape included."""

from __future__ import annotations

import numpy as np

from ..format.schema import FIXED_ROLE_NAMES, ROLE_DTYPES


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def assert_same(got, want) -> None:
    """``got`` equals ``want``: same dtype, same shape, equal values (NaN != NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    assert np.array_equal(got, want)


def assert_episode_equal(got: dict, written: dict, *, with_images: bool = True) -> None:
    """``got`` (from read_episode) equals the add_episode kwargs ``written``, bit for bit."""
    for role, key in FIXED_ROLE_NAMES.items():
        dt = ROLE_DTYPES[role]
        if key in written:
            want = np.asarray(written[key]).astype(dt)
            assert same_bits(got[key], want), key
        else:
            assert got[key] is None, key
    for name, arr in (written.get("columns") or {}).items():
        assert same_bits(got[name], np.asarray(arr)), name
    if with_images:
        assert set(got["images"]) == set(written.get("images") or {})
        for name, frames in (written.get("images") or {}).items():
            assert same_bits(got["images"][name], frames), name
    else:
        assert "images" not in got
    meta = got["meta"]
    assert meta["task"] == written.get("task", "")
    assert meta["embodiment"] == written.get("embodiment", "")
    assert meta["success"] == written.get("success")
    want_reward = written.get("total_reward")
    assert meta["total_reward"] == (None if want_reward is None else float(want_reward))
    assert meta["attrs"] == (written.get("attrs") or {})
    assert meta["num_frames"] == len(written["actions"])
