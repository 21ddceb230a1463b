"""A low-dim ``.kdb`` ingests in bulk (runs of episodes gathered by one compiled pass, written by one
``add_episodes`` call) into the file the episode-by-episode path writes: same values, same metadata, same
report. Runs break where a camera appears, where dims change and where total_reward comes and goes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb
from kinonb.interop import write_kdb
from kinonb.interop.ingest import kdb as kdb_ingest
from kinonb.store.writer import Writer
from kinonb.testing import same_bits

ARRAYS = ("actions", "states", "rewards", "is_terminal")
META = ("task", "embodiment", "fps", "success", "total_reward", "episode_id", "num_frames", "action_dim",
        "state_dim", "cameras")


def episode(rng, t, a, s, *, camera=False, reward=True, task="stack", success=None, fps=10.0):
    ep = {"meta": {"task": task, "embodiment": "franka", "fps": fps, "success": success,
                   "total_reward": float(rng.normal()) if reward else None},
          "actions": rng.normal(size=(t, a)).astype(np.float32), "states": rng.normal(size=(t, s)).astype(np.float32),
          "rewards": rng.normal(size=t).astype(np.float32), "is_terminal": rng.random(t) < 0.2}
    if camera:
        ep["images"] = {"front": rng.integers(0, 255, (t, 4, 6, 3), dtype=np.uint8)}
    return ep


def ingest_both(tmp_path, monkeypatch, src, **options):
    """(bulk output, per-episode output, the Writer.add_episodes calls the bulk ingest made)."""
    calls = []
    real = Writer.add_episodes

    def counting(self, *args, **kwargs):
        calls.append(len(kwargs.get("lengths", args[0] if args else ())))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Writer, "add_episodes", counting)
    bulk = kdb_ingest.ingest_kdb(src, tmp_path / "bulk.knb", overwrite=True, **options)
    monkeypatch.setattr(kdb_ingest, "MIN_RUN", 1 << 62)
    single = kdb_ingest.ingest_kdb(src, tmp_path / "single.knb", overwrite=True, **options)
    monkeypatch.undo()
    want = dict(single.as_dict(), output=bulk.output)
    assert bulk.as_dict() == want
    return tmp_path / "bulk.knb", tmp_path / "single.knb", calls


def assert_same_files(a, b):
    da, db = kinonb.open(a), kinonb.open(b)
    assert len(da) == len(db) and da.num_frames() == db.num_frames()
    for i in range(len(da)):
        x, y = da.read_episode(i), db.read_episode(i)
        assert {k: x["meta"].get(k) for k in META} == {k: y["meta"].get(k) for k in META}, i
        for key in ARRAYS:
            assert x[key].dtype == y[key].dtype and same_bits(x[key], y[key]), (i, key)
        assert list(x["images"]) == list(y["images"])
        for cam in x["images"]:
            assert np.array_equal(x["images"][cam], y["images"][cam])


def test_runs_break_at_cameras_dims_and_rewards(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    eps = [episode(rng, 5 + i % 4, 3, 2, task=["stack", "lift"][i % 2], success=[None, True, False][i % 3])
           for i in range(20)]
    eps += [episode(rng, 4, 3, 2, camera=True)]
    eps += [episode(rng, 3 + i, 7, 0, reward=i > 9) for i in range(20)]
    write_kdb(tmp_path / "src.kdb", eps)
    bulk, single, calls = ingest_both(tmp_path, monkeypatch, tmp_path / "src.kdb")
    assert calls == [20, 10, 10]  # cut at the camera episode and where total_reward appears
    assert_same_files(bulk, single)
    db = kinonb.open(bulk)
    for i, ep in enumerate(eps):
        got = db.read_episode(i)
        for key in ARRAYS:
            assert same_bits(got[key], ep[key].astype(got[key].dtype))
        assert got["meta"]["task"] == ep["meta"]["task"] and got["meta"]["success"] == ep["meta"]["success"]


def test_overrides_apply_to_bulk_runs(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    write_kdb(tmp_path / "src.kdb", [episode(rng, 6, 2, 3, fps=[10.0, 20.0][i % 2]) for i in range(12)])
    bulk, single, calls = ingest_both(tmp_path, monkeypatch, tmp_path / "src.kdb", task="pour", fps=15.0,
                                      embodiment="ur5")
    assert calls == [12]
    assert_same_files(bulk, single)
    meta = kinonb.open(bulk).read_episode(5)["meta"]
    assert (meta["task"], meta["fps"], meta["embodiment"]) == ("pour", 15.0, "ur5")


def test_short_runs_and_max_episodes_go_one_by_one(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    write_kdb(tmp_path / "src.kdb", [episode(rng, 4, 2, 2) for _ in range(kdb_ingest.MIN_RUN + 4)])
    _, _, calls = ingest_both(tmp_path, monkeypatch, tmp_path / "src.kdb", max_episodes=kdb_ingest.MIN_RUN - 1)
    assert calls == []
    bulk, single, calls = ingest_both(tmp_path, monkeypatch, tmp_path / "src.kdb", max_episodes=kdb_ingest.MIN_RUN)
    assert calls == [kdb_ingest.MIN_RUN]
    assert_same_files(bulk, single)


def test_run_byte_cap_splits_a_run(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    write_kdb(tmp_path / "src.kdb", [episode(rng, 10, 4, 4) for _ in range(30)])
    monkeypatch.setattr(kdb_ingest, "RUN_BYTES", 10 * (4 * 8 + 5) * 12)  # 12 episodes a run
    bulk, single, calls = ingest_both(tmp_path, monkeypatch, tmp_path / "src.kdb")
    assert calls == [12, 12, 6]
    assert_same_files(bulk, single)


@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 3), st.integers(0, 2), st.booleans(),
                          st.sampled_from([None, True, False]), st.booleans(), st.sampled_from(["a", "b", ""])),
                min_size=0, max_size=30),
       st.integers(0, 2**31 - 1))
def test_bulk_ingest_writes_what_the_episode_path_writes(tmp_path_factory, specs, seed):
    tmp = tmp_path_factory.mktemp("bulk")
    rng = np.random.default_rng(seed)
    eps = [episode(rng, t, a + 1, s, camera=cam and t % 3 == 0, reward=rew, success=ok, task=task)
           for t, a, s, rew, ok, cam, task in specs]
    write_kdb(tmp / "src.kdb", eps)
    with pytest.MonkeyPatch.context() as mp:
        bulk, single, _ = ingest_both(tmp, mp, tmp / "src.kdb")
    assert_same_files(bulk, single)
