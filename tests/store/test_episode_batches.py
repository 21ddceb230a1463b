"""write_episodes (every ingest, merge, export to .knb) goes through add_episode, whose stage writes runs of small
low-dim episodes as batches (issue 18 req 4): the file reads back as the episodes given, in order, mixed with
ones it cannot batch, and a bad episode inside a run is still named in the error."""

import numpy as np
import pytest

import kinonb
from kinonb.store import batch_writes, small_episodes
from kinonb.store.report import Report
from kinonb.store.transfer import write_episodes


def _episodes(n, rng):
    out = []
    for i in range(n):
        t = int(rng.integers(1, 6))
        ep = {"actions": rng.standard_normal((t, 2)).astype(np.float32), "task": f"t{i % 3}", "fps": 10.0,
              "success": bool(i % 2), "source": f"src {i}"}
        if i % 7 == 3:
            ep["images"] = {"cam": rng.integers(0, 255, (t, 4, 4, 3), np.uint8)}  # not batchable
        if i % 11 == 5:
            ep["states"] = rng.standard_normal((t + 1, 3)).astype(np.float32)  # T + 1 rows: not batchable
        if i % 13 == 6:
            ep["actions"] = ep["actions"].astype(np.float64)  # another dtype: a new batch (stored as float32)
        out.append(ep)
    return out


def test_batched_writes_read_back_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(small_episodes, "STAGE_EPISODES", 8)
    rng = np.random.default_rng(0)
    eps = _episodes(60, rng)
    calls = []
    real = batch_writes.write_batch
    monkeypatch.setattr(batch_writes, "write_batch",
                        lambda w, lengths, *a: calls.append(len(lengths)) or real(w, lengths, *a))
    report = write_episodes(tmp_path / "o.knb", [dict(e) for e in eps], Report("test"))
    assert report.episodes == 60 and calls and max(calls) <= 8 and sum(calls) < 60
    db = kinonb.open(tmp_path / "o.knb")
    for i, ep in enumerate(eps):
        got = db.read_episode(i)
        assert got["actions"].dtype == np.float32  # the column's dtype, fixed by the first episode
        assert np.array_equal(got["actions"], ep["actions"].astype(np.float32))
        assert got["meta"]["task"] == ep["task"] and got["meta"]["success"] == ep["success"]
        if "images" in ep:
            assert np.array_equal(got["images"]["cam"], ep["images"]["cam"])
        if "states" in ep:
            assert np.array_equal(got["states"], ep["states"])


def test_a_bad_episode_inside_a_batch_is_named(tmp_path):
    rng = np.random.default_rng(1)
    eps = [e for e in _episodes(40, rng) if "images" not in e and "states" not in e]
    eps[9]["task"] = 7  # not a str
    with pytest.raises(kinonb.SchemaError, match=f"^{eps[9]['source']}: task must be a str"):
        write_episodes(tmp_path / "bad.knb", eps, Report("test"))
    assert not (tmp_path / "bad.knb").exists()
