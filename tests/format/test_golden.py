"""The committed golden v1.0 file is read forever, and the writer still produces it byte for byte."""

import sys
from pathlib import Path

import kinonb
from kinonb.testing import assert_episode_equal

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from make_golden import golden_episodes, write  # noqa: E402


def test_golden_v1_0_reads_back():
    db = kinonb.open(GOLDEN / "v1_0.knb")
    assert db.version() == "1.0"
    assert db.num_episodes() == 3 and db.num_frames() == 9 and db.commit_seq == 3
    assert db.camera_names() == ["top", "wrist"]
    for i, ep in enumerate(golden_episodes()):
        assert_episode_equal(db.read_episode(i), ep)
    assert db.read_meta(2)["attrs"] == {"operator": "bob", "seed": 3}
    report = kinonb.validate(GOLDEN / "v1_0.knb", deep=True)
    assert report.ok, report.errors


def test_writer_is_deterministic(tmp_path):
    """Same input, same bytes: the golden file is exactly what today's writer writes."""
    write(tmp_path / "again.knb")
    assert (tmp_path / "again.knb").read_bytes() == (GOLDEN / "v1_0.knb").read_bytes()
