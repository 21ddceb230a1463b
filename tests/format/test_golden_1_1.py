"""The committed golden v1.1 file (every 1.1 feature) is read forever, and today's writer rewrites it byte for
byte (issue 13 req 7)."""

import sys
from pathlib import Path

import numpy as np

import kinonb
from kinonb.testing import assert_episode_equal, file_keys, stored_dtypes

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from make_golden_1_1 import REQUEST, golden_episodes, write  # noqa: E402


def test_golden_v1_1_reads_back():
    path = GOLDEN / "v1_1.knb"
    db = kinonb.open(path)
    eps = list(golden_episodes())
    assert db.version() == "1.1"
    assert db.num_episodes() == 4 and db.num_frames() == 4 + 3 + 2 + 1 and db.commit_seq == 3
    dtypes, keys = stored_dtypes(eps, REQUEST), file_keys(eps)
    assert {k: v.str for k, v in dtypes.items()} == {"actions": "<f2", "states": "<f8", "rewards": "<f2"}
    assert keys == {"timestamps", "streams", "episode_arrays"}
    for i, ep in enumerate(eps):
        assert_episode_equal(db.read_episode(i), ep, dtypes=dtypes, keys=keys)
    assert [db.read_meta(i)["action_dim"] for i in range(4)] == [2, 0, 3, 1]
    assert [db.read_meta(i)["state_dim"] for i in range(4)] == [2, 4, 0, 1]
    assert db.query("action_dim = 0") == [1] and db.query("state_dim >= 2") == [0, 1]
    assert db.frames(0, "states", 3, 5).shape == (2, 2)  # the final observation is frame T
    times, starts, lengths = db.time_blocks(None, np.array([0, 2]))
    assert lengths.tolist() == [4, 2] and starts.tolist() == [0, 4]
    np.testing.assert_allclose(times, [0, 0.033, 0.066, 0.1, 1e-8, 2e-8], rtol=1e-15)
    times, _, lengths = db.time_blocks("imu", np.array([0, 3]))
    assert lengths.tolist() == [5, 1] and times.tolist() == [0.0, 0.01, 0.02, 0.05, 0.09, 0.5]
    schema = {d["name"]: d for d in db.schema()}
    assert schema["rewards"]["cast_from"] == "float32"
    assert schema["wrist"]["codec"] == "lz4" and schema["top"]["codec"] == "raw"
    assert schema["top"].get("shape_varies") and schema["states"].get("own_frames")
    report = kinonb.validate(path, deep=True)
    assert report.ok, report.errors


def test_writer_rewrites_golden_v1_1(tmp_path):
    """Same input, same bytes: the golden 1.1 file is exactly what today's writer writes."""
    write(tmp_path / "again.knb")
    assert (tmp_path / "again.knb").read_bytes() == (GOLDEN / "v1_1.knb").read_bytes()
