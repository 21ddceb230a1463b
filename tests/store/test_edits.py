"""Edit commits (format 1.2): delete, relabel, annotate, add a column, trim; earlier commits; compact; diff."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kinonb
from kinonb import CorruptFieldError, InvalidArgumentError, PositionError, SchemaError, UnsupportedVersionError
from kinonb.format import layout as L
from kinonb.store.history import history

RNG = np.random.default_rng(7)


def _episode(t: int, i: int) -> dict:
    return {"actions": RNG.normal(size=(t, 3)).astype(np.float32),
            "states": RNG.normal(size=(t + 1, 4)).astype(np.float32),
            "rewards": RNG.normal(size=t).astype(np.float32),
            "task": f"task {i}", "fps": 10.0, "success": bool(i % 2), "attrs": {"i": i}}


def _file(path, n: int = 6, images: str | None = None) -> list[dict]:
    eps = [_episode(8 + i, i) for i in range(n)]
    with kinonb.create(path, compression=images) as w:
        for ep in eps:
            if images:
                ep["images"] = {"cam": RNG.integers(0, 255, (len(ep["actions"]), 8, 8, 3), dtype=np.uint8)}
            w.add_episode(**ep)
    return eps


def _same(db, i: int, ep: dict) -> None:
    got = db.read_episode(i)
    for key in ("actions", "states", "rewards"):
        np.testing.assert_array_equal(got[key], ep[key])
    assert got["meta"]["task"] == ep["task"]


def test_delete_shifts_positions_and_keeps_the_old_snapshot(tmp_path):
    path = tmp_path / "d.knb"
    eps = _file(path)
    before = kinonb.open(path)
    with kinonb.append(path) as w:
        w.delete_episodes([1, 4])
        assert w.num_episodes == 4
    db = kinonb.open(path)
    assert len(db) == 4 and db.version() == "1.2"
    for i, j in enumerate([0, 2, 3, 5]):
        _same(db, i, eps[j])
    assert db.num_frames() == sum(len(eps[j]["actions"]) for j in (0, 2, 3, 5))
    assert len(before) == 6
    _same(before, 4, eps[4])  # a reader open before the edit keeps its commit
    assert kinonb.validate(path).ok and kinonb.validate(path, deep=True).ok


def test_set_meta_relabels_and_annotates(tmp_path):
    path = tmp_path / "m.knb"
    eps = _file(path)
    with kinonb.append(path) as w:
        w.set_meta(2, task="open the drawer", success=None, total_reward=3.5, embodiment="franka",
                   instructions=["open the drawer", "pull the handle"], segments=[(0, 4, "reach"), (4, 10, "pull")])
        w.set_meta(3, attrs={"operator": "b"})
    db = kinonb.open(path)
    meta = db.read_meta(2)
    assert (meta["task"], meta["success"], meta["total_reward"], meta["embodiment"]) == (
        "open the drawer", None, 3.5, "franka")
    assert meta["attrs"] == {"i": 2, "instructions": ["open the drawer", "pull the handle"],
                             "segments": [[0, 4, "reach"], [4, 10, "pull"]]}
    assert db.read_meta(3)["attrs"] == {"operator": "b"}
    assert db.read_meta(1)["task"] == "task 1"
    _same(db, 2, {**eps[2], "task": "open the drawer"})
    assert db.query("instruction CONTAINS 'drawer'") == [2]
    assert db.query("segment = 'pull'") == [2]
    assert db.query("instruction = null") == [0, 1, 3, 4, 5]
    with kinonb.append(path) as w:
        w.set_meta(2, total_reward=None, instructions=None)
    meta = kinonb.open(path).read_meta(2)
    assert meta["total_reward"] is None and "instructions" not in meta["attrs"]


def test_add_column_new_and_replacing_rewards(tmp_path):
    path = tmp_path / "c.knb"
    eps = _file(path)
    emb = RNG.normal(size=(len(eps[1]["actions"]), 16)).astype(np.float32)
    new_rewards = np.ones(len(eps[3]["actions"]), np.float32)
    size = path.stat().st_size
    with kinonb.append(path) as w:
        w.add_column(1, "embedding", emb)
        w.add_column(3, "rewards", new_rewards)
    db = kinonb.open(path)
    np.testing.assert_array_equal(db.read_episode(1)["embedding"], emb)
    assert "embedding" not in db.read_episode(0)
    np.testing.assert_array_equal(db.read_episode(3)["rewards"], new_rewards)
    np.testing.assert_array_equal(db.read_episode(3)["actions"], eps[3]["actions"])
    footer = path.stat().st_size - size - emb.nbytes - new_rewards.nbytes
    assert footer < 64 * 1024  # only the two blocks and a footer were written
    assert kinonb.validate(path, deep=True).ok


def test_trim_slices_every_column_and_segments(tmp_path):
    path = tmp_path / "t.knb"
    eps = _file(path, images="lz4")
    with kinonb.append(path) as w:
        w.set_meta(2, segments=[(0, 3, "a"), (3, 6, "b"), (6, 10, "c")])
    with kinonb.append(path) as w:
        w.trim(2, 2, 7)
    db = kinonb.open(path)
    got, ep = db.read_episode(2), eps[2]
    np.testing.assert_array_equal(got["actions"], ep["actions"][2:7])
    np.testing.assert_array_equal(got["states"], ep["states"][2:8])  # the final observation row is kept
    np.testing.assert_array_equal(got["images"]["cam"], ep["images"]["cam"][2:7])
    assert got["meta"]["num_frames"] == 5
    assert got["meta"]["attrs"]["segments"] == [[0, 1, "a"], [1, 4, "b"], [4, 5, "c"]]
    np.testing.assert_array_equal(db.read_episode(3)["actions"], eps[3]["actions"])
    batch = db.sample_index({"actions": range(2)}).read(np.arange(db.num_frames()))
    assert batch["actions"].shape == (db.num_frames(), 2, 3)
    assert kinonb.validate(path, deep=True).ok


def test_trim_keeps_jpeg_bytes_and_cuts_streams_by_time(tmp_path):
    pytest.importorskip("simplejpeg")
    path = tmp_path / "j.knb"
    frames = RNG.integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)
    times = np.arange(20) / 16  # exact in binary: frame k at k / 8 s
    with kinonb.create(path, compression="jpeg") as w:
        w.add_episode(np.zeros((10, 2), np.float32), images={"cam": frames}, fps=8.0,
                      streams={"imu": (times, np.arange(len(times), dtype=np.float32)[:, None])})
    stored = kinonb.open(path).read_episode(0, raw_frames=True)["images"]["cam"].frames
    with kinonb.append(path) as w:
        w.trim(0, 3, 6)
    got = kinonb.open(path).read_episode(0, raw_frames=True)
    assert got["images"]["cam"].frames == stored[3:6]  # copied, not encoded again
    t, v = got["streams"]["imu"]
    np.testing.assert_allclose(t, times[6:12])  # from the sample in effect at frame 3 to the last before frame 6
    np.testing.assert_array_equal(v[:, 0], np.arange(6, 12))


def test_stats_follow_deletes_and_replacements(tmp_path):
    path = tmp_path / "s.knb"
    eps = _file(path)
    with kinonb.append(path) as w:
        w.delete_episodes([0, 5])
        w.add_column(2, "rewards", np.full(len(eps[2]["actions"]), 2.0, np.float32))
        w.trim(3, 1, 5)
    live = [eps[1]["actions"], eps[2]["actions"], eps[3]["actions"][1:5], eps[4]["actions"]]
    stats = kinonb.open(path).stats()
    values = np.concatenate(live).astype(np.float64)
    assert stats["actions"]["count"] == values.size
    assert stats["actions"]["mean"] == pytest.approx(values.mean(), rel=1e-9, abs=1e-12)
    assert stats["actions"]["std"] == pytest.approx(values.std(), rel=1e-9)
    assert stats["actions"]["min"] <= values.min() and stats["actions"]["max"] >= values.max()
    rewards = np.concatenate([eps[1]["rewards"], np.full(len(eps[2]["actions"]), 2.0), eps[3]["rewards"][1:5],
                              eps[4]["rewards"]])
    assert stats["rewards"]["mean"] == pytest.approx(rewards.mean(), rel=1e-9)
    compacted = tmp_path / "s2.knb"
    kinonb.compact(path, compacted)
    exact = kinonb.open(compacted).stats()["actions"]
    assert (exact["min"], exact["max"]) == (values.min(), values.max())


def test_abort_and_refusals_leave_no_trace(tmp_path):
    path = tmp_path / "a.knb"
    eps = _file(path, n=3)
    data = path.read_bytes()
    with pytest.raises(RuntimeError):
        with kinonb.append(path) as w:
            w.delete_episodes([0])
            w.set_meta(1, task="x")
            w.add_column(2, "extra", np.zeros((len(eps[2]["actions"]), 2), np.float32))
            raise RuntimeError
    assert path.read_bytes() == data
    with kinonb.append(path) as w:
        w.add_episode(**_episode(5, 9))
        for bad, error in ((lambda: w.delete_episodes([3]), PositionError),  # not committed yet
                           (lambda: w.set_meta(7, task="x"), PositionError),
                           (lambda: w.set_meta(0, segments=[(0, 99, "x")]), SchemaError),
                           (lambda: w.set_meta(0, task=3), SchemaError),
                           (lambda: w.add_column(0, "extra", np.zeros((2, 2))), SchemaError),
                           (lambda: w.trim(0, 4, 4), PositionError),
                           (lambda: w.trim(0, 0, 99), PositionError)):
            with pytest.raises(error):
                bad()
        w.delete_episodes([1])
        with pytest.raises(PositionError):
            w.set_meta(1, task="deleted")
    db = kinonb.open(path)
    assert [db.read_meta(i)["task"] for i in range(len(db))] == ["task 0", "task 2", "task 9"]
    assert db.column_names() == ["actions", "states", "rewards"]


def test_open_earlier_commits_and_log(tmp_path):
    path = tmp_path / "h.knb"
    _file(path, n=3)
    with kinonb.append(path) as w:
        w.delete_episodes([0])
    with kinonb.append(path) as w:
        w.add_episode(**_episode(4, 7))
    assert [len(kinonb.open(path, commit=k)) for k in (1, 2, 3, 4, -1, -2, -3, -4)] == [0, 3, 2, 3, 3, 2, 3, 0]
    pinned = kinonb.open(path, commit=-2)
    assert pinned.commit_seq == 3 and not pinned.refresh() and len(pinned) == 2
    assert len(pickle.loads(pickle.dumps(pinned))) == 2
    for bad in (0, 5, -5, 1.5, True):
        with pytest.raises(InvalidArgumentError):
            kinonb.open(path, commit=bad)
    log = history(path)
    assert [(r.seq, r.num_episodes, r.added) for r in log] == [(1, 0, 0), (2, 3, 3), (3, 2, 0), (4, 3, 1)]
    assert log[2].changes == {"deleted": [0]} and log[2].time is not None and log[1].time is None
    assert log[0].start == 0 and all(a.end == b.start for a, b in zip(log, log[1:]))
    assert log[-1].end == path.stat().st_size
    assert [r.describe() for r in log] == ["created", "+3 episodes", "deleted 1", "+1 episodes"]


def test_a_forged_commit_info_is_refused(tmp_path):
    path = tmp_path / "f.knb"
    _file(path, n=2)
    with kinonb.append(path) as w:
        w.delete_episodes([0])
    raw = bytearray(path.read_bytes())
    at = raw.rfind(b'"prev_end"')
    digits = raw.index(b",", at)
    raw[digits - 1 : digits] = b"1" if raw[digits - 1 : digits] != b"1" else b"2"
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFieldError, match="commit_info CRC-32"):
        history(path)
    assert len(kinonb.open(path)) == 1  # reading the newest commit does not need its commit_info


def test_prev_end_must_be_a_commit_end(tmp_path):
    import os

    from kinonb.store.history import commit_info, previous_commit
    from kinonb.store.recovery import find_last_commit

    path = tmp_path / "p.knb"
    _file(path, n=2)
    with kinonb.append(path) as w:
        w.delete_episodes([0])
    fd = os.open(path, os.O_RDONLY)
    try:
        commit, _ = find_last_commit(fd, path)
        info = commit_info(fd, path, commit)
        assert previous_commit(fd, path, commit, 1, info).end == info["prev_end"]
        for forged in (info["prev_end"] - 64, 64, commit.end):
            with pytest.raises(CorruptFieldError, match="prev_end"):
                previous_commit(fd, path, commit, 1, {**info, "prev_end": forged})
    finally:
        os.close(fd)


def test_an_older_writer_refuses_an_edit_commit(tmp_path, monkeypatch):
    path = tmp_path / "v.knb"
    _file(path, n=2)
    with kinonb.append(path) as w:
        w.set_meta(0, task="new")
    monkeypatch.setattr(L, "FORMAT_MINOR", 1)
    with pytest.raises(UnsupportedVersionError):
        kinonb.append(path)


def test_an_older_reader_refuses_an_edit_commit(tmp_path):
    """A 1.1 reader reads a 10-section minor-2 footer's first 9 sections as 1.1's: the empty block_shapes record
    is refused, never read as an index."""
    import os

    from kinonb.format.footer import read_footer_prefix
    from kinonb.store.recovery import KNOWN_PREFIX, find_last_commit

    path = tmp_path / "o.knb"
    with kinonb.create(path) as w:  # no column needs per-block shapes: the edit commit's block_shapes is empty
        for t in (3, 4):
            w.add_episode(np.zeros((t, 2), np.float32))
    with kinonb.append(path) as w:
        w.delete_episodes([1])
    fd = os.open(path, os.O_RDONLY)
    try:
        commit, _ = find_last_commit(fd, path)
        prefix = os.pread(fd, KNOWN_PREFIX, commit.footer_offset)
    finally:
        os.close(fd)
    assert commit.minor == 2
    with pytest.raises(CorruptFieldError, match="block_shapes"):
        read_footer_prefix(prefix, path, commit.footer_offset, commit.footer_length, minor=1)


def test_compact_and_diff(tmp_path):
    path, out = tmp_path / "x.knb", tmp_path / "y.knb"
    eps = _file(path, images="lz4")
    with kinonb.append(path) as w:
        w.delete_episodes([0, 1])
        w.set_meta(2, task="relabelled")
        w.trim(3, 0, 4)
    report = kinonb.compact(path, out)
    assert report.bytes_after < report.bytes_before == path.stat().st_size
    a, b = kinonb.open(path), kinonb.open(out)
    assert len(b) == 4 and len(history(out)) == 2
    for i in range(4):
        x, y = a.read_episode(i), b.read_episode(i)
        for key in ("actions", "states", "rewards"):
            np.testing.assert_array_equal(x[key], y[key])
        np.testing.assert_array_equal(x["images"]["cam"], y["images"]["cam"])
        assert x["meta"] == y["meta"]
    assert kinonb.diff(path, out).as_dict() == {"added": [], "removed": [], "same": 4, "changed": []}
    d = kinonb.diff((path, 2), path)
    assert d.removed == [0, 1] and d.added == [] and d.same == 2
    assert d.changed == [(2, 0, ["task"]), (3, 1, ["num_frames", "column actions", "column cam", "column rewards",
                                                   "column states"])]
    _same(b, 2, eps[4])


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_random_edits_match_a_model(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("p") / "r.knb"
    n = data.draw(st.integers(1, 8))
    eps = _file(path, n=n)
    model = [dict(ep) for ep in eps]
    with kinonb.append(path) as w:
        relabel = data.draw(st.sets(st.integers(0, n - 1)))
        for p in sorted(relabel):
            w.set_meta(p, task=f"new {p}")
            model[p]["task"] = f"new {p}"
        trims = data.draw(st.sets(st.integers(0, n - 1)))
        for p in sorted(trims):
            t = len(eps[p]["actions"])
            a = data.draw(st.integers(0, t - 1))
            b = data.draw(st.integers(a + 1, t))
            w.trim(p, a, b)
            model[p] = {**model[p], "actions": eps[p]["actions"][a:b], "states": eps[p]["states"][a : b + 1],
                        "rewards": eps[p]["rewards"][a:b]}
        deleted = data.draw(st.sets(st.integers(0, n - 1)))
        w.delete_episodes(sorted(deleted))
    model = [ep for p, ep in enumerate(model) if p not in deleted]
    db = kinonb.open(path)
    assert len(db) == len(model)
    for i, ep in enumerate(model):
        _same(db, i, ep)
    assert kinonb.validate(path).ok


def test_salvage_after_an_edit_keeps_the_edited_positions(tmp_path):
    path, out = tmp_path / "s.knb", tmp_path / "out.knb"
    eps = _file(path)
    with kinonb.append(path) as w:
        w.delete_episodes([0, 2])
        w.set_meta(1, task="kept")
    raw = bytearray(path.read_bytes())
    raw[-64:] = bytes(64)  # the edit commit's trailer is lost: its footer is still in the file
    path.write_bytes(bytes(raw))
    report = kinonb.salvage(path, out)
    db = kinonb.open(out)
    assert report.recovered == len(db) == 4
    assert [db.read_meta(i)["task"] for i in range(4)] == ["kept", "task 3", "task 4", "task 5"]
    _same(db, 2, eps[4])


def test_an_append_after_a_trim_still_declares_1_2(tmp_path):
    path = tmp_path / "o.knb"
    with kinonb.create(path) as w:
        for t in (3, 4):
            w.add_episode(np.zeros((t, 2), np.float32))
    with kinonb.append(path) as w:
        w.trim(0, 0, 2)  # episode 0's new block lies after episode 1's
    with kinonb.append(path) as w:
        w.add_episode(np.ones((2, 2), np.float32))
    db = kinonb.open(path)
    assert db.version() == "1.2" and [db.read_meta(i)["num_frames"] for i in range(3)] == [2, 4, 2]
    assert kinonb.log(path)[-1].changes == {} and kinonb.log(path)[-1].added == 1
    with kinonb.append(path) as w:
        w.delete_episodes([0])  # the out-of-order block is gone: appends are 1.0 commits again
    with kinonb.append(path) as w:
        w.add_episode(np.ones((2, 2), np.float32))
    assert kinonb.open(path).version() == "1.0"
