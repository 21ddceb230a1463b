"""Round trips through the writer and the reader, commits, snapshots, locking."""

import multiprocessing as mp
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb
from kinonb.testing import assert_episode_equal, episodes, file_schemas, same_bits


@st.composite
def datasets(draw, max_episodes=4, max_frames=500):
    schema = draw(file_schemas())
    eps = [draw(episodes(schema, max_frames=max_frames)) for _ in range(draw(st.integers(1, max_episodes)))]
    splits = sorted(draw(st.sets(st.integers(1, max(1, len(eps) - 1)), max_size=2)))
    return schema, eps, splits


@given(datasets())
def test_roundtrip_bit_for_bit(tmp_path_factory, data):
    schema, eps, splits = data
    path = tmp_path_factory.mktemp("rt") / "data.knb"
    with kinonb.create(path, compression=schema["compression"]) as w:
        for i, ep in enumerate(eps):
            if i in splits:
                w.commit()
            w.add_episode(**ep)
    db = kinonb.open(path)
    assert db.num_episodes() == len(eps) == len(db)
    assert db.num_frames() == sum(len(e["actions"]) for e in eps)
    for i, ep in enumerate(eps):
        got = db.read_episode(i)
        assert_episode_equal(got, ep)
        assert_episode_equal(db.read_episode_actions_only(i), ep, with_images=False)
        assert db.read_meta(i)["episode_id"] == i
        for key in ("actions", "states", "rewards", "is_terminal"):
            if got[key] is not None and got[key].size:
                assert np.shares_memory(got[key], db._buf), key
                assert not got[key].flags.writeable
        for name, frames in got["images"].items():
            if schema["compression"] is None and frames.size:
                assert np.shares_memory(frames, db._buf)


@given(datasets(max_episodes=3, max_frames=40), datasets(max_episodes=3, max_frames=40))
def test_append_after_reopen(tmp_path_factory, first, second):
    schema, eps, _ = first
    path = tmp_path_factory.mktemp("ap") / "data.knb"
    with kinonb.create(path, compression=schema["compression"]) as w:
        for ep in eps:
            w.add_episode(**ep)
    more = [dict(ep) for ep in eps[:2]]
    with kinonb.append(path) as w:
        for ep in more:
            w.add_episode(**ep)
    db = kinonb.open(path)
    assert db.num_episodes() == len(eps) + len(more)
    for i, ep in enumerate(eps + more):
        assert_episode_equal(db.read_episode(i), ep)
    assert db.read_meta(len(eps))["episode_id"] == len(eps)


def simple(t=5, a=3, **kw):
    return dict(actions=np.arange(t * a, dtype=np.float32).reshape(t, a), **kw)


def test_kinodb_api_surface(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple(states=np.zeros((5, 2), np.float32), rewards=np.ones(5, np.float32), is_terminal=np.arange(5) == 4,
                               task="push the T block", embodiment="pusht", fps=10.0, success=True,
                               total_reward=1.0, attrs={"operator": "alice"}, images={"top": np.zeros((5, 4, 4, 3), np.uint8)},
                               columns={"eef_pos": np.ones((5, 3))}))
    db = kinonb.open(path)
    assert db.version() == "1.0"
    assert db.path() == str(path)
    assert "episodes: 1" in db.summary()
    meta = db.read_meta(0)
    assert meta == {"episode_id": 0, "embodiment": "pusht", "task": "push the T block", "num_frames": 5, "fps": 10.0,
                    "action_dim": 3, "success": True, "total_reward": 1.0, "state_dim": 2, "cameras": ["top"],
                    "columns": ["eef_pos"], "attrs": {"operator": "alice"}}
    ep = db.read_episode(0)
    assert ep["actions"].dtype == np.float32 and ep["states"].dtype == np.float32
    assert ep["rewards"].dtype == np.float32 and ep["is_terminal"].dtype == np.bool_
    assert ep["images"]["top"].shape == (5, 4, 4, 3) and ep["eef_pos"].dtype == np.float64
    assert "images" not in db.read_episode_actions_only(0)
    s = db.stats()
    assert s["actions"]["count"] == 15 and s["actions"]["min"] == 0 and s["actions"]["max"] == 14
    assert s["actions"]["mean"] == pytest.approx(7.0) and s["actions"]["std"] == pytest.approx(np.arange(15).std())
    for bad in (1, -2, 10**20):
        with pytest.raises(IndexError):
            db.read_meta(bad)
    assert db.read_meta(-1)["episode_id"] == 0


def test_actions_only_touches_no_image_byte(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple(images={"top": np.full((5, 8, 8, 3), 7, np.uint8)}))
    db = kinonb.open(path)
    top = db._columns.index(next(c for c in db._columns if c.name == "top"))
    blk = db._index.blocks[0, top]
    # Corrupt the image bytes behind the reader's back: actions-only reads must not notice.
    with open(path, "r+b") as f:
        f.seek(int(blk["offset"]))
        f.write(b"\xff" * int(blk["nbytes"]))
    db = kinonb.open(path)
    ep = db.read_episode_actions_only(0)
    assert same_bits(ep["actions"], simple()["actions"])


def test_stats_count_nan_and_inf(tmp_path):
    path = tmp_path / "d.knb"
    a = np.array([[1.0, np.nan], [np.inf, -np.inf], [3.0, 2.0]], np.float32)
    with kinonb.create(path) as w:
        w.add_episode(actions=a)
        w.commit()
        w.add_episode(actions=a[:1])
    s = kinonb.open(path).stats()["actions"]
    assert (s["count"], s["nan_count"], s["inf_count"]) == (4, 2, 2)
    assert (s["min"], s["max"]) == (1.0, 3.0)
    assert s["mean"] == pytest.approx(np.mean([1, 3, 2, 1]))
    assert s["std"] == pytest.approx(np.std([1, 3, 2, 1]))


# -- write-side validation --------------------------------------------------------------------------------------

def test_write_validation(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(actions=np.zeros((4, 2), np.float64), states=np.zeros((4, 3), np.int16),
                      is_terminal=np.array([0, 0, 0, 1]), columns={"pos": np.zeros((4, 3), np.float32)})
        with pytest.raises(kinonb.SchemaError, match="empty episode"):
            w.add_episode(actions=np.zeros((0, 2)))
        with pytest.raises(kinonb.SchemaError, match="states: expected 4 frames"):
            w.add_episode(actions=np.zeros((4, 2)), states=np.zeros((3, 3)))
        with pytest.raises(kinonb.SchemaError, match=r"pos: per-frame shape \(4, 1\) does not match the file's \(3,\)"):
            w.add_episode(actions=np.zeros((4, 2)), columns={"pos": np.zeros((4, 4, 1))})
        with pytest.raises(kinonb.SchemaError, match="is_terminal"):
            w.add_episode(actions=np.zeros((2, 2)), is_terminal=np.array([0, 2]))
        with pytest.raises(kinonb.SchemaError, match="top: cannot store dtype float32"):
            w.add_episode(actions=np.zeros((2, 2)), images={"top": np.zeros((2, 4, 4, 3), np.float32)})
        with pytest.raises(kinonb.SchemaError, match="actions: cannot store dtype <U1"):
            w.add_episode(actions=np.array([["a", "b"]]))
        with pytest.raises(kinonb.SchemaError, match="blob: dtype complex128 is not storable"):
            w.add_episode(actions=np.zeros((1, 2)), columns={"blob": np.zeros((1, 2), complex)})
        with pytest.raises(kinonb.SchemaError, match="attrs must be JSON"):
            w.add_episode(actions=np.zeros((1, 2)), attrs={"x": object()})
        with pytest.raises(kinonb.SchemaError, match="reserved"):
            w.add_episode(actions=np.zeros((1, 2)), columns={"states": np.zeros((1, 2))})
        with pytest.raises(kinonb.SchemaError, match="1-d actions"):
            w.add_episode(actions=np.zeros(4))
        with pytest.raises(kinonb.SchemaError, match="pos: cannot store dtype complex128 as float32"):
            w.add_episode(actions=np.zeros((1, 2)), columns={"pos": np.zeros((1, 3), np.float64) + 1j})
    db = kinonb.open(path)
    assert db.num_episodes() == 1, "rejected episodes leave nothing behind"
    ep = db.read_episode(0)
    assert ep["actions"].dtype == np.float64 and ep["states"].dtype == np.float32  # int16 states: float32
    assert ep["is_terminal"].tolist() == [False, False, False, True]


def test_integer_columns_convert_only_when_values_fit(tmp_path):
    with kinonb.create(tmp_path / "d.knb") as w:
        w.add_episode(actions=np.zeros((2, 1)), columns={"count": np.array([1, 2], np.int8)})
        w.add_episode(actions=np.zeros((2, 1)), columns={"count": np.array([3, 4], np.int64)})
        with pytest.raises(kinonb.SchemaError, match="count: values of dtype int64 do not fit the column's dtype int8"):
            w.add_episode(actions=np.zeros((2, 1)), columns={"count": np.array([1000, 4], np.int64)})
    ep = kinonb.open(tmp_path / "d.knb").read_episode(1)
    assert ep["count"].dtype == np.int8 and ep["count"].tolist() == [3, 4]


def test_schema_error_is_value_error():
    assert issubclass(kinonb.SchemaError, ValueError)
    assert issubclass(kinonb.FormatError, ValueError)
    assert issubclass(kinonb.WriterLockedError, BlockingIOError)


# -- commits, aborts, snapshots, locks --------------------------------------------------------------------------

def test_abort_discards_block(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple())
    size = path.stat().st_size
    with pytest.raises(RuntimeError):
        with kinonb.append(path) as w:
            w.add_episode(**simple(images={"new": np.zeros((5, 2, 2, 1), np.uint8)}))
            w.commit()
            w.add_episode(**simple(t=7))
            raise RuntimeError("boom")
    db = kinonb.open(path)
    assert db.num_episodes() == 2, "the explicit commit survives, the rest of the block does not"
    assert db.ignored_bytes == 0
    assert path.stat().st_size > size
    with kinonb.append(path) as w:
        w.add_episode(**simple(t=2))
    assert kinonb.open(path).num_episodes() == 3


def test_exception_before_any_commit_commits_nothing(tmp_path):
    path = tmp_path / "d.knb"
    with pytest.raises(KeyError):
        with kinonb.create(path) as w:
            w.add_episode(**simple())
            raise KeyError("x")
    assert kinonb.open(path).num_episodes() == 0


def test_reader_snapshot_and_refresh(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple())
    db = kinonb.open(path)
    actions = db.read_episode(0)["actions"]
    with kinonb.append(path) as w:
        w.add_episode(**simple(t=9, columns={"extra": np.ones((9, 1))}))
    assert db.num_episodes() == 1, "a reader keeps its snapshot"
    assert db.refresh() is True
    assert db.num_episodes() == 2 and db.read_meta(1)["columns"] == ["extra"]
    assert db.refresh() is False
    assert same_bits(actions, simple()["actions"]), "views from the old snapshot stay valid"


def _try_append(path, q):
    try:
        kinonb.append(path)
        q.put("opened")
    except kinonb.WriterLockedError as e:
        q.put(f"locked: {e}")


def test_second_writer_locked(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        with pytest.raises(kinonb.WriterLockedError, match="locked by another writer"):
            kinonb.append(path)
        q = mp.get_context("spawn").Queue()
        p = mp.get_context("spawn").Process(target=_try_append, args=(path, q))
        p.start()
        p.join(60)
        assert q.get(timeout=5).startswith("locked")
        w.add_episode(**simple())
    with kinonb.append(path) as w:  # released on close
        pass


def test_create_refuses_to_clobber(tmp_path):
    path = tmp_path / "d.knb"
    kinonb.create(path).close()
    with pytest.raises(FileExistsError):
        kinonb.create(path)
    kinonb.create(path, overwrite=True).close()


def test_read_only_file_opens(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple())
    path.chmod(0o444)
    try:
        assert kinonb.open(path).read_episode(0)["actions"].shape == (5, 3)
    finally:
        path.chmod(0o644)


def test_open_is_lazy_about_the_index(tmp_path):
    """Opening checks no chunk of the episode index: that is what keeps open O(1) in the episode count."""
    path = tmp_path / "d.knb"
    with kinonb.create(path, sync=False) as w:
        for _ in range(5000):
            w.add_episode(actions=np.zeros((1, 1), np.float32))
    db = kinonb.open(path)
    assert not db._index._checked.any()
    db.read_meta(4999)
    assert db._index._checked.tolist() == [False, True]


def test_frames_view(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path, compression="lz4") as w:
        w.add_episode(**simple(t=6, images={"top": np.arange(6 * 4, dtype=np.uint8).reshape(6, 2, 2, 1)}))
    db = kinonb.open(path)
    f = db.frames(0, "actions", 2, 4)
    assert same_bits(f, simple(t=6)["actions"][2:4]) and np.shares_memory(f, db._buf)
    assert db.frames(0, "top", 1, 3).tolist() == np.arange(24, dtype=np.uint8).reshape(6, 2, 2, 1)[1:3].tolist()
    with pytest.raises(KeyError, match="no column 'nope'"):
        db.frames(0, "nope")


def test_warns_and_ignores_torn_tail(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple())
    with open(path, "ab") as f:
        f.write(b"\x01" * 1000)
    with pytest.warns(kinonb.TornTailWarning, match="ignored 1000 bytes"):
        db = kinonb.open(path)
    assert db.ignored_bytes == 1000 and db.num_episodes() == 1
    with pytest.raises(kinonb.TornTailError, match="1000 more bytes"):
        kinonb.append(path)  # appending would bury the torn bytes: repair is explicit
    assert path.stat().st_size == db._commit.end + 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with kinonb.append(path, repair=True) as w:
            w.add_episode(**simple())
    db = kinonb.open(path)
    assert db.ignored_bytes == 0 and db.num_episodes() == 2


def test_duplicate_names_rejected(tmp_path):
    with kinonb.create(tmp_path / "d.knb") as w:
        with pytest.raises(kinonb.SchemaError, match="x: given twice"):
            w.add_episode(actions=np.zeros((2, 1)), images={"x": np.zeros((2, 2, 2, 1), np.uint8)},
                          columns={"x": np.zeros((2, 1))})
        w.add_episode(actions=np.zeros((1000, 0), np.float32))
    assert kinonb.open(tmp_path / "d.knb").read_episode(0)["actions"].shape == (1000, 0)


def test_rejected_attrs_leave_no_strings(tmp_path):
    a, b = tmp_path / "a.knb", tmp_path / "b.knb"
    with kinonb.create(a) as w:
        with pytest.raises(kinonb.SchemaError):
            w.add_episode(actions=np.zeros((1, 1)), task="only in a rejected episode", attrs={"x": {1, 2}})
        w.add_episode(actions=np.zeros((1, 1)))
    with kinonb.create(b) as w:
        w.add_episode(actions=np.zeros((1, 1)))
    assert a.read_bytes() == b.read_bytes()


def test_overwrite_refused_while_locked(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path):
        with pytest.raises(kinonb.WriterLockedError):
            kinonb.create(path, overwrite=True)


@pytest.mark.parametrize("access", ["normal", "random", "sequential"])
def test_access_hint_changes_nothing_but_speed(tmp_path, access):
    import pickle

    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(**simple(images={"top": np.full((5, 2, 2, 3), 3, np.uint8)}))
    db = kinonb.open(path, access=access)
    assert same_bits(db.read_episode(0)["actions"], simple()["actions"])
    assert pickle.loads(pickle.dumps(db))._access == access
    with pytest.raises(ValueError, match="access must be one of"):
        kinonb.open(path, access="fast")
