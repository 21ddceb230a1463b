"""add_episode's stage for small low-dim episodes (kinonb/store/small_episodes.py, issue 18 req 4): whatever mix
of episodes a loop adds, the file is the one the loop writes with the stage off (same records, blocks, offsets,
checksums and strings), commits come after the same episodes, and every refusal is raised by add_episode itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb
from kinonb.errors import SchemaError
from kinonb.store import small_episodes
from kinonb.testing.equality import same_bits


def _episode(draw, rng) -> dict:
    t = draw(st.sampled_from([1, 3, 8, 2000]))  # 2000 frames: too long to stage
    kind = draw(st.sampled_from(["plain", "plain", "plain", "no_states", "f64", "next_obs", "column", "attrs", "id"]))
    ep = {"actions": rng.standard_normal((t, 2)).astype(np.float32)}
    if kind != "no_states":
        ep["states"] = rng.standard_normal((t + (kind == "next_obs"), 3)).astype(
            np.float64 if kind == "f64" else np.float32)
    if draw(st.booleans()):
        ep["rewards"] = rng.standard_normal(t).astype(np.float32)
        ep["is_terminal"] = np.arange(t) == t - 1
    if kind == "column":
        ep["columns"] = {"depth": rng.integers(0, 9, (t, 2)).astype(np.uint16)}
    if kind == "attrs":
        ep["attrs"] = {"operator": "alice"}
    if kind == "id":
        ep["episode_id"] = int(rng.integers(10_000, 20_000))
    ep["task"] = draw(st.sampled_from(["", "open", "close drawer"]))
    ep["embodiment"] = draw(st.sampled_from(["", "franka"]))
    ep["fps"] = draw(st.sampled_from([0.0, 10.0, 30]))
    ep["success"] = draw(st.sampled_from([None, True, False]))
    if draw(st.booleans()):
        ep["total_reward"] = float(rng.standard_normal())
    return ep


@st.composite
def loops(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return [_episode(draw, rng) for _ in range(draw(st.integers(1, 30)))]


def _write(path, episodes, staged: bool, monkeypatch, **options) -> list[int]:
    """Write the loop; return the committed episode count seen after each add_episode."""
    monkeypatch.setattr(small_episodes, "STAGE_EPISODES", 8192 if staged else 0)
    committed = []
    with kinonb.create(path, sync=False, **options) as w:
        for i, ep in enumerate(episodes):
            assert w.add_episode(**ep) == i and w.num_episodes == i + 1
            committed.append(len(w._episodes))
        assert w.num_frames == sum(len(ep["actions"]) for ep in episodes)
    return committed


def _same_files(a, b) -> None:
    x, y = kinonb.open(a), kinonb.open(b)
    assert x.num_episodes() == y.num_episodes() and x.num_frames() == y.num_frames()
    assert np.array_equal(x._index.episodes, y._index.episodes)
    assert np.array_equal(x._index.blocks, y._index.blocks)  # same offsets, sizes and CRCs
    for i in range(x.num_episodes()):
        assert x.read_meta(i) == y.read_meta(i)
        ex, ey = x.read_episode(i), y.read_episode(i)
        assert sorted(ex) == sorted(ey)
        assert all(same_bits(ex[k], ey[k]) for k in ex if isinstance(ex[k], np.ndarray))
    for name, s in x.stats().items():
        t = y.stats()[name]
        np.testing.assert_array_equal([s["count"], s["min"], s["max"]], [t["count"], t["min"], t["max"]])
        np.testing.assert_allclose([s["mean"], s["std"]], [t["mean"], t["std"]], rtol=1e-9, atol=1e-12)
    assert kinonb.validate(a, deep=True).ok


@given(episodes=loops(), bounds=st.sampled_from([{}, {"autocommit_episodes": 4}, {"autocommit_bytes": 3000}]))
def test_a_staged_loop_writes_the_unstaged_file(tmp_path_factory, episodes, bounds):
    tmp = tmp_path_factory.mktemp("stage")
    with pytest.MonkeyPatch.context() as mp:
        staged = _write(tmp / "a.knb", episodes, True, mp, **bounds)
        unstaged = _write(tmp / "b.knb", episodes, False, mp, **bounds)
    _same_files(tmp / "a.knb", tmp / "b.knb")
    if "autocommit_episodes" in bounds:
        assert staged == unstaged  # auto-commits after the same episodes


def test_the_stage_copies_what_it_is_given(tmp_path):
    actions = np.zeros((5, 2), np.float32)
    with kinonb.create(tmp_path / "c.knb") as w:
        w.add_episode(actions)  # a new column: written at once
        actions += 1  # the caller reuses its buffer
        w.add_episode(actions)
        actions += 1  # ... before the stage is written
        w.add_episode(actions)
        assert w._small.count == 2 and w._pending_count == 1  # the last two staged, not written yet
    db = kinonb.open(tmp_path / "c.knb")
    assert [float(db.read_episode(i)["actions"][0, 0]) for i in range(3)] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("bad, match", [
    ({"success": 1}, "success must be True, False or None"),
    ({"fps": float("nan")}, "fps must be finite"),
    ({"fps": True}, "fps must be a number"),
    ({"task": "x\ud800"}, "not valid unicode"),
    ({"task": ["a"]}, "task must be a str"),
    ({"total_reward": "1"}, "total_reward must be a number"),
    ({"actions": np.zeros((4, 2, 1), np.float32)}, "expected shape"),
    ({"actions": np.zeros((4, 2), np.float32), "states": np.zeros((6, 3), np.float32)}, "expected 4 frames"),
])
def test_a_refusal_comes_from_add_episode_and_keeps_the_staged(tmp_path, bad, match):
    good = {"actions": np.ones((4, 2), np.float32), "states": np.ones((4, 3), np.float32)}
    with kinonb.create(tmp_path / "d.knb") as w:
        for _ in range(3):
            w.add_episode(**good, task="ok")
        with pytest.raises(SchemaError, match=match):
            w.add_episode(**{**good, **bad})
        assert w.num_episodes == 3 and w.pending == 3
        w.add_episode(**good, task="ok")
    db = kinonb.open(tmp_path / "d.knb")
    assert db.num_episodes() == 4 and db.read_meta(3)["task"] == "ok"


def test_abort_discards_the_stage_and_a_reader_sees_only_commits(tmp_path):
    path = tmp_path / "e.knb"
    with kinonb.create(path) as w:
        w.add_episode(np.ones((4, 2), np.float32), task="kept")
    with pytest.raises(RuntimeError), kinonb.append(path) as w:
        w.add_episode(np.ones((4, 2), np.float32), task="dropped")
        reader = kinonb.open(path)
        raise RuntimeError("the loop fails")
    assert reader.num_episodes() == 1
    db = kinonb.open(path)
    assert db.num_episodes() == 1 and db.read_meta(0)["task"] == "kept"
    with kinonb.append(path) as w:  # the writer's columns came back with the abort
        w.add_episode(np.full((2, 2), 7, np.float32), task="after")
    assert kinonb.open(path).read_meta(1)["task"] == "after"
