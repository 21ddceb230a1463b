"""The committed golden v1.2 file (an edit commit using every edit) is read forever, its earlier commits too, and
today's writer rewrites it byte for byte (with the edit commit's time fixed by SOURCE_DATE_EPOCH)."""

import sys
from pathlib import Path

import numpy as np

import kinonb

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from make_golden import golden_episodes  # noqa: E402
from make_golden_1_2 import EDIT_TIME, EMBEDDING, write  # noqa: E402


def test_golden_v1_2_reads_back():
    path = GOLDEN / "v1_2.knb"
    db = kinonb.open(path)
    eps = list(golden_episodes())
    assert db.version() == "1.2" and len(db) == 2 and db.commit_seq == 4 and db.num_frames() == 2 + 3
    first = db.read_episode(0)
    np.testing.assert_array_equal(first["actions"], eps[0]["actions"][1:3])
    np.testing.assert_array_equal(first["images"]["top"], eps[0]["images"]["top"][1:3])
    np.testing.assert_array_equal(first["eef"], eps[0]["columns"]["eef"][1:3])
    assert first["meta"]["success"] is False
    assert first["meta"]["attrs"] == {"operator": "alice", "instructions": ["push the T", "slide the T block"],
                                      "segments": [[0, 1, "approach"], [1, 2, "push"]]}
    second = db.read_episode(1)
    np.testing.assert_array_equal(second["actions"], eps[2]["actions"])
    np.testing.assert_array_equal(second["embedding"], EMBEDDING)
    assert db.query("instruction CONTAINS 'slide'") == [0]
    old = kinonb.open(path, commit=3)
    assert len(old) == 3 and old.read_meta(1)["task"] == "ouvrir le tiroir é"
    np.testing.assert_array_equal(old.read_episode(0)["actions"], eps[0]["actions"])
    log = kinonb.log(path)
    assert [c.seq for c in log] == [1, 2, 3, 4] and log[-1].time == float(EDIT_TIME)
    assert log[-1].changes == {"columns": {"embedding": [2]}, "deleted": [1], "relabelled": [0], "trimmed": [0]}
    assert kinonb.validate(path, deep=True).ok


def test_writer_rewrites_golden_v1_2(tmp_path):
    write(tmp_path / "again.knb")
    assert (tmp_path / "again.knb").read_bytes() == (GOLDEN / "v1_2.knb").read_bytes()
