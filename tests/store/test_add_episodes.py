"""Writer.add_episodes (issue 18 req 4): a batch of episodes from concatenated arrays is the same file as an
add_episode loop over them (same blocks, offsets, checksums, records and strings; only the column statistics
may differ in the last bits of mean and M2), checked whole before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb
from kinonb.store import batch_writes
from kinonb.testing.equality import same_bits

ROLES = ("actions", "states", "rewards", "is_terminal")


def _same_episode(x: dict, y: dict) -> None:
    assert sorted(x) == sorted(y)
    for k in x:
        if isinstance(x[k], np.ndarray):
            assert x[k].dtype == y[k].dtype and same_bits(x[k], y[k]), k
        else:
            assert x[k] == y[k], k


@st.composite
def batches(draw):
    n = draw(st.integers(1, 12))
    lengths = np.array(draw(st.lists(st.integers(1, 9), min_size=n, max_size=n)))
    total = int(lengths.sum())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arrays = {}
    if draw(st.booleans()):
        arrays["actions"] = rng.standard_normal((total, draw(st.integers(0, 4)))).astype(
            draw(st.sampled_from([np.float32, np.float64])))
    if draw(st.booleans()) or not arrays:
        arrays["states"] = rng.standard_normal((total, 3)).astype(np.float32)
    if draw(st.booleans()):
        arrays["rewards"] = rng.standard_normal(total).astype(np.float32)
    if draw(st.booleans()):
        arrays["is_terminal"] = rng.random(total) < 0.2
    extra = {"depth": rng.integers(0, 9, (total, 2, 2)).astype(np.uint16)} if draw(st.booleans()) else None
    per = lambda options: draw(st.one_of(st.sampled_from(options), st.lists(st.sampled_from(options), min_size=n,
                                                                             max_size=n)))
    values = dict(task=per(["", "open", "close drawer"]), embodiment=per(["", "franka"]), fps=per([0.0, 10.0, 30.0]),
                  success=per([None, True, False]))
    if draw(st.booleans()):
        values["total_reward"] = rng.standard_normal(n).tolist()
    if draw(st.booleans()):
        values["episode_id"] = rng.permutation(1000)[:n].tolist()
    return lengths, arrays, extra, values


def _one(values, i, n):
    return {k: (v[i] if isinstance(v, list) else v) for k, v in values.items()}


@given(batch=batches(), prefix=st.integers(0, 2))
def test_a_batch_is_the_file_an_add_episode_loop_writes(tmp_path_factory, batch, prefix):
    lengths, arrays, extra, values = batch
    tmp = tmp_path_factory.mktemp("batch")
    starts = np.concatenate([[0], np.cumsum(lengths)])
    head = {"actions": np.ones((3, 2), np.float32)}  # episodes already in the file before the batch
    with kinonb.create(tmp / "a.knb", sync=False) as w:
        for _ in range(prefix):
            w.add_episode(**head, task="before")
        positions = w.add_episodes(lengths, **arrays, columns=extra, **values)
        assert positions == range(prefix, prefix + len(lengths)) and w.num_episodes == prefix + len(lengths)
    with kinonb.create(tmp / "b.knb", sync=False) as w:
        for _ in range(prefix):
            w.add_episode(**head, task="before")
        for i in range(len(lengths)):
            rows = slice(starts[i], starts[i + 1])
            w.add_episode(**{k: v[rows] for k, v in arrays.items()},
                          columns=None if extra is None else {k: v[rows] for k, v in extra.items()},
                          **_one(values, i, len(lengths)))
    a, b = kinonb.open(tmp / "a.knb"), kinonb.open(tmp / "b.knb")
    assert a.num_episodes() == b.num_episodes() and a.num_frames() == b.num_frames()
    for i in range(a.num_episodes()):
        _same_episode(a.read_episode(i), b.read_episode(i))
        assert a.read_meta(i) == b.read_meta(i)
    assert np.array_equal(a._index.episodes, b._index.episodes)
    assert np.array_equal(a._index.blocks, b._index.blocks)  # same offsets, sizes and CRCs
    assert kinonb.validate(tmp / "a.knb", deep=True).ok
    for name, s in a.stats().items():
        t = b.stats()[name]
        np.testing.assert_array_equal([s["count"], s["min"], s["max"]], [t["count"], t["min"], t["max"]])
        np.testing.assert_allclose([s["mean"], s["std"]], [t["mean"], t["std"]], rtol=1e-9, atol=1e-12)


def test_chunks_and_autocommit_inside_one_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_writes, "CHUNK_BYTES", 4096)  # many chunks
    lengths = np.full(300, 5)
    actions = np.arange(1500 * 7, dtype=np.float32).reshape(1500, 7)
    with kinonb.create(tmp_path / "c.knb", sync=False, autocommit_episodes=64) as w:
        w.add_episodes(lengths, actions, task=[f"t{i % 3}" for i in range(300)])
        committed = kinonb.open(tmp_path / "c.knb").num_episodes()
        assert 64 <= committed <= 300 and committed < w.num_episodes + 1
    db = kinonb.open(tmp_path / "c.knb")
    assert db.num_episodes() == 300 and db.read_meta(299)["task"] == "t2"
    assert np.array_equal(db.read_episode(123)["actions"], actions[615:620])
    assert kinonb.validate(tmp_path / "c.knb", deep=True).ok


def test_abort_discards_a_batch_and_append_continues(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episodes([2, 3], np.zeros((5, 2), np.float32), task="kept")
    with kinonb.append(path) as w:
        w.add_episodes([4], np.ones((4, 2), np.float32), task="gone")
        w.abort()
        assert w.num_episodes == 2
        w.add_episodes([1, 1], np.full((2, 2), 7, np.float32), episode_id=[40, 41])
    db = kinonb.open(path)
    assert [db.read_meta(i)["task"] for i in range(4)] == ["kept", "kept", "", ""]
    assert [db.read_meta(i)["episode_id"] for i in range(4)] == [0, 1, 40, 41]


@pytest.mark.parametrize("kwargs, match", [
    (dict(lengths=[2, 2], actions=np.zeros((5, 2), np.float32)), "expected 4 rows"),
    (dict(lengths=[2, 0], actions=np.zeros((2, 2), np.float32)), r"lengths\[1\] = 0"),
    (dict(lengths=[[2]], actions=np.zeros((2, 2), np.float32)), "1-d sequence"),
    (dict(lengths=[1, 1], actions=np.zeros((2, 2), np.float32), task=["a"]), "sequence of 2"),
    (dict(lengths=[1, 1], actions=np.zeros((2, 2), np.float32), task=["a", 3]), r"task\[1\]"),
    (dict(lengths=[1, 1], actions=np.zeros((2, 2), np.float32), success=[True, "yes"]), r"success\[1\]"),
    (dict(lengths=[1, 1], actions=np.zeros((2, 2), np.float32), fps=[1.0, -1.0]), r"fps\[1\]"),
    (dict(lengths=[1, 1], actions=np.zeros((2, 2), np.float32), episode_id=[1, -1]), r"episode_id\[1\]"),
    (dict(lengths=[1, 1], actions=np.zeros((2, 2), np.float32), episode_id=5), "one id per episode"),
    (dict(lengths=[1, 1], rewards=np.zeros((2, 2), np.float32)), r"rewards: expected shape \(T,\)"),
    (dict(lengths=[1, 1], columns={"frame": np.zeros(2)}), "reserved"),
])
def test_a_bad_batch_writes_nothing(tmp_path, kwargs, match):
    path = tmp_path / "e.knb"
    with kinonb.create(path) as w:
        w.add_episode(np.zeros((2, 2), np.float32))
    size = path.stat().st_size
    with kinonb.append(path) as w:
        with pytest.raises(kinonb.SchemaError, match=match):
            w.add_episodes(**kwargs)
        assert w.num_episodes == 1 and w.pending == 0
        w.add_episodes([1], np.ones((1, 2), np.float32))  # the writer is still usable
    assert kinonb.open(path).num_episodes() == 2 and path.stat().st_size > size


def test_an_empty_batch_is_nothing(tmp_path):
    with kinonb.create(tmp_path / "f.knb") as w:
        assert w.add_episodes([], np.zeros((0, 2), np.float32)) == range(0, 0)
        assert w.pending == 0
