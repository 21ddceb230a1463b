"""kdb -> knb -> kdb: kinodb's own files survive the round trip, values and bytes."""

import numpy as np
import pytest

import kinonb
from kinonb.interop import KdbDatabase, write_kdb
from kinonb.interop.ingest import ingest
from kinonb.interop.ingest.kdb import ingest_kdb
from kinonb.ops.export import export_kdb

NAMES = ["create_test_small", "create_test_images_raw", "create_test_images_jpeg", "robomimic_lift_scripted",
         "pusht_images"]
KINODB_META = ["embodiment", "task", "num_frames", "fps", "action_dim", "success", "total_reward", "state_dim",
               "cameras"]


@pytest.fixture(params=NAMES)
def ref(request, datasets_dir):
    path = datasets_dir / "kinodb_reference" / f"{request.param}.kdb"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    if request.param == "create_test_images_jpeg":
        pytest.importorskip("PIL")
    return path


def test_kdb_round_trip(ref, tmp_path):
    src = KdbDatabase(ref)
    knb = tmp_path / "a.knb"
    report = ingest_kdb(ref, knb, compression="lz4" if "images" in ref.name else None)
    db = kinonb.open(knb)
    assert report.episodes == len(db) == len(src) and report.frames == db.num_frames() == src.num_frames()
    for i in range(len(src)):
        want, got = src.read_episode(i), db.read_episode(i)
        assert {k: got["meta"][k] for k in KINODB_META} == {k: want["meta"][k] for k in KINODB_META}
        assert got["meta"]["episode_id"] == want["meta"]["episode_id"]
        for key in ("actions", "states", "rewards", "is_terminal"):
            assert got[key].dtype == want[key].dtype and got[key].tobytes() == want[key].tobytes()
        assert list(got["images"]) == list(want["images"])
        for cam, frames in want["images"].items():
            assert np.array_equal(got["images"][cam], frames)  # JPEG: the same Pillow decode, so exact

    # knb -> kdb equals what write_kdb makes from the original (for JPEG: its decoded pixels, raw)
    ts = src.header()["created_timestamp"]
    export_kdb(knb, tmp_path / "back.kdb", created_timestamp=ts)
    write_kdb(tmp_path / "direct.kdb", (src.read_episode(i) for i in range(len(src))), created_timestamp=ts)
    assert (tmp_path / "back.kdb").read_bytes() == (tmp_path / "direct.kdb").read_bytes()
    if "jpeg" not in ref.name:
        assert (tmp_path / "back.kdb").read_bytes() == ref.read_bytes()  # and that is kinodb's own file
    back = KdbDatabase(tmp_path / "back.kdb")
    for i in range(len(src)):
        a, b = back.read_episode(i), src.read_episode(i)
        assert a["meta"] == b["meta"]
        for key in ("actions", "states", "rewards", "is_terminal"):
            assert a[key].tobytes() == b[key].tobytes()
        for cam in b["images"]:
            assert np.array_equal(a["images"][cam], b["images"][cam])


def test_overrides_and_detection(datasets_dir, tmp_path):
    ref = datasets_dir / "kinodb_reference" / "create_test_small.kdb"
    if not ref.is_file():
        pytest.skip(f"{ref} is absent")
    report = ingest(ref, tmp_path / "o.knb", embodiment="franka", fps=30, max_episodes=5)  # format detected
    assert report.format == "kdb" and report.episodes == 5
    db = kinonb.open(tmp_path / "o.knb")
    assert {(m["embodiment"], m["fps"]) for m in map(db.read_meta, range(5))} == {("franka", 30.0)}
    assert db.read_meta(1)["task"] == "open the drawer"  # not overridden
    with pytest.raises(ValueError, match="key_map does not apply"):
        ingest_kdb(ref, tmp_path / "p.knb", key_map={"actions": "x"})
    with pytest.raises(kinonb.FormatError):
        ingest_kdb(datasets_dir / "kinodb_reference" / "README.md", tmp_path / "p.knb")
