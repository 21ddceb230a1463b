"""Issue 15 part 3: what ``add_episode`` is given. Every refusal is a SchemaError raised before any state
changes, so a rejected call followed by a good one writes the bytes the good one writes alone."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

import kinonb

GOOD = dict(task="good task", embodiment="arm", fps=30.0, total_reward=1.5, attrs={"k": 1})


def _good(w):
    w.add_episode(np.ones((3, 2), np.float32), images={"cam": np.zeros((3, 2, 2, 3), np.uint8)},
                  columns={"xyz": np.ones((3, 2))}, **GOOD)


def _reference(tmp_path) -> bytes:
    path = tmp_path / "reference.knb"
    with kinonb.create(path, sync=False) as w:
        _good(w)
    return path.read_bytes()


A = np.zeros((3, 2), np.float32)
BAD_CALLS = {
    "lone surrogate task": dict(actions=A, task="\ud800"),
    "lone surrogate embodiment": dict(actions=A, embodiment="x\udfff"),
    "lone surrogate in attrs": dict(actions=A, task="new", attrs={"k": "\ud800"}),
    "lone surrogate camera name": dict(actions=A, task="new", images={"\ud800": np.zeros((3, 2, 2, 3), np.uint8)}),
    "total_reward='abc'": dict(actions=A, task="new task", total_reward="abc"),
    "total_reward='1.5'": dict(actions=A, task="new task", total_reward="1.5"),
    "total_reward=[1]": dict(actions=A, task="new task", total_reward=[1.0]),
    "fps=None": dict(actions=A, task="new task", fps=None),
    "fps='abc'": dict(actions=A, task="new task", fps="abc"),
    "fps='30'": dict(actions=A, task="new task", fps="30"),
    "fps=True": dict(actions=A, task="new task", fps=True),
    "episode_id=nan": dict(actions=A, task="new task", episode_id=math.nan),
    "episode_id=inf": dict(actions=A, task="new task", episode_id=math.inf),
    "episode_id='7'": dict(actions=A, task="new task", episode_id="7"),
    "ragged actions": dict(actions=[[1.0, 2.0], [3.0]], task="new task"),
    "ragged column": dict(actions=A, task="new task", columns={"new": [[1.0], [2.0, 3.0], [4.0]]}),
    "images=[...]": dict(actions=A, task="new task", images=[np.zeros((3, 2, 2, 3), np.uint8)]),
    "columns=[...]": dict(actions=A, task="new task", columns=[np.zeros((3, 2))]),
    "attrs=[]": dict(actions=A, task="new task", attrs=[]),
    "attrs=0": dict(actions=A, task="new task", attrs=0),
    "attrs NaN": dict(actions=A, task="new task", attrs={"k": math.nan}),
    "success='yes'": dict(actions=A, task="new task", success="yes"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_rejected_call_leaves_no_trace(tmp_path, case):
    path = tmp_path / "w.knb"
    with kinonb.create(path, sync=False) as w:
        with pytest.raises(kinonb.SchemaError):
            w.add_episode(**BAD_CALLS[case])
        assert w.pending == 0
        _good(w)
    assert path.read_bytes() == _reference(tmp_path)


def test_lone_surrogate_never_poisons_the_writer(tmp_path):
    path = tmp_path / "w.knb"
    with kinonb.create(path, sync=False) as w:
        _good(w)
        w.commit()
        with pytest.raises(kinonb.SchemaError, match="lone surrogate"):
            w.add_episode(A, task="\ud800")
        w.add_episode(A, task="after")
    db = kinonb.open(path)
    assert len(db) == 2 and db.read_meta(1)["task"] == "after"


def test_numbers_of_numpy_types_are_accepted(tmp_path):
    with kinonb.create(tmp_path / "w.knb", sync=False) as w:
        w.add_episode(A, fps=np.float32(15), total_reward=np.int64(2), episode_id=np.uint32(9))
        w.add_episode(A, fps=np.array(10.0), total_reward=3, episode_id=10.0, attrs={})
    db = kinonb.open(tmp_path / "w.knb")
    assert (db.read_meta(0)["fps"], db.read_meta(0)["total_reward"], db.read_meta(0)["episode_id"]) == (15, 2, 9)
    assert db.read_meta(1)["attrs"] == {}


def _hard_for_kdb(tmp_path):
    """Clean files kinonb's writer makes that .kdb cannot hold (zero-width actions throughout: in format 1.0
    one file has one action width)."""
    path = tmp_path / "src.knb"
    a0 = np.zeros((3, 0), np.float32)
    with kinonb.create(path, sync=False) as w:
        w.add_episode(a0, task="fine")
        w.add_episode(a0, total_reward=1e39)
        w.add_episode(a0, fps=1e300)
        w.add_episode(np.zeros((2**40, 0), np.float32))
        w.add_episode(np.zeros((2**20, 0), np.float32))
        w.add_episode(a0, task="fine too", total_reward=-2.0)
    return path


def test_export_kdb_reports_what_kdb_cannot_hold_and_exports_the_rest(tmp_path):
    from kinonb.ops.export import export

    src = _hard_for_kdb(tmp_path)
    with pytest.warns(kinonb.IngestWarning):
        report = export(src, tmp_path / "out.kdb", format="kdb")
    assert report.skipped_episodes == [1, 2, 3, 4] and report.episodes == 2
    assert any("total_reward=1e+39 overflows" in s for s in report.skipped)
    assert any("fps=1e+300 overflows" in s for s in report.skipped)
    assert any(s.startswith("episode 3: T=1099511627776") for s in report.skipped)
    assert any(s.startswith("episode 4: 1048576 frames of zero-width columns") for s in report.skipped)
    db = kinonb.open(tmp_path / "out.kdb")
    assert [db.read_meta(i)["task"] for i in range(len(db))] == ["fine", "fine too"]


def test_cli_export_exits_1_when_episodes_were_skipped(tmp_path):
    from kinonb.cli import main

    src = _hard_for_kdb(tmp_path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", str(src), "-o", str(tmp_path / "o.kdb"), "--format", "kdb"]) == 1
    assert "episode 3" in err.getvalue()
