"""zarr replay-buffer ingest (diffusion_policy): every array equals what zarr reads, exactly."""

import sys

import numpy as np
import pytest

import kinonb
from kinonb.interop.ingest import MissingExtraError, SourceLayoutError
from kinonb.interop.ingest.zarr_replay import ingest_zarr, to_uint8_image
from kinonb.testing import assert_same as same

zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")

EPISODES = 12  # of 206: keeps the test fast (the img array dominates)


@pytest.fixture(scope="module")
def pusht(datasets_dir):
    path = datasets_dir / "diffusion_policy_pusht_cchi_v7_replay" / "pusht_cchi_v7_replay.zarr"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def test_pusht_matches_zarr(pusht, tmp_path):
    out = tmp_path / "pusht.knb"
    report = ingest_zarr(pusht, out, max_episodes=EPISODES, embodiment="pusht", task="push the T block", fps=10,
                         compression="lz4")
    root = zarr.open_group(str(pusht), mode="r", zarr_format=2)
    ends = root["meta/episode_ends"][:]
    db = kinonb.open(out)
    assert len(db) == report.episodes == EPISODES
    assert db.num_frames() == report.frames == int(ends[EPISODES - 1])
    assert report.cameras == ["img"] and report.columns == ["keypoint", "n_contacts"] and not report.skipped
    start = 0
    for i in range(EPISODES):
        stop = int(ends[i])
        ep = db.read_episode(i)
        same(ep["actions"], root["data/action"][start:stop])
        same(ep["states"], root["data/state"][start:stop])
        same(ep["keypoint"], root["data/keypoint"][start:stop])
        same(ep["n_contacts"], root["data/n_contacts"][start:stop])
        img = root["data/img"][start:stop]
        same(ep["images"]["img"].astype(np.float32), img)  # float 0..255 -> uint8, exactly
        same(ep["is_terminal"], np.arange(stop - start) == stop - start - 1)
        assert ep["rewards"] is None
        meta = ep["meta"]
        assert (meta["episode_id"], meta["num_frames"], meta["embodiment"], meta["task"], meta["fps"]) == \
            (i, stop - start, "pusht", "push the T block", 10.0)
        assert meta["success"] is None and meta["total_reward"] is None
        start = stop


def test_pusht_reproduces_kinodbs_own_kdb(pusht, datasets_dir, tmp_path):
    """kinodb wrote pusht_images.kdb from the first 7 episodes (img as camera 'top', pusht, 10 fps):
    zarr -> knb -> kdb gives the same bytes."""
    from kinonb.interop import KdbDatabase
    from kinonb.ops.export import export_kdb

    ref = datasets_dir / "kinodb_reference" / "pusht_images.kdb"
    if not ref.is_file():
        pytest.skip(f"{ref} is absent")
    ingest_zarr(pusht, tmp_path / "p.knb", max_episodes=7, key_map={"top": "img"}, embodiment="pusht",
                task="push the T block", fps=10)
    report = export_kdb(tmp_path / "p.knb", tmp_path / "p.kdb",
                        created_timestamp=KdbDatabase(ref).header()["created_timestamp"])
    assert (tmp_path / "p.kdb").read_bytes() == ref.read_bytes()
    assert len(report.skipped) == 2  # keypoint and n_contacts have no place in .kdb: reported


def write_buffer(path, *, zarr_format=2, img=None, extra=None, ends=(3, 7, 12)):
    root = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    n = ends[-1]
    data = root.create_group("data")
    meta = root.create_group("meta")
    rng = np.random.default_rng(1)
    arrays = {
        "action": rng.normal(size=(n, 2)).astype(np.float32),
        "state": rng.normal(size=(n, 5)).astype(np.float64),
        "reward": rng.random(n).astype(np.float32),
        "done": (np.isin(np.arange(n), np.array(ends) - 1)).astype(np.uint8),
        "img": rng.integers(0, 256, (n, 4, 6, 3)).astype(np.float32) if img is None else img,
        "eef_quat": rng.normal(size=(n, 4)).astype(np.float64),
    }
    arrays.update(extra or {})
    for k, v in arrays.items():
        data.create_array(k, shape=v.shape, dtype=v.dtype, chunks=(4,) + v.shape[1:])[...] = v
    meta.create_array("episode_ends", shape=(len(ends),), dtype=np.int64)[...] = np.array(ends)
    return arrays


@pytest.mark.parametrize("fmt", [2, 3])
def test_synthetic_buffer_roles_and_dtypes(tmp_path, fmt):
    arrays = write_buffer(tmp_path / "buf.zarr", zarr_format=fmt)
    report = ingest_zarr(tmp_path / "buf.zarr", tmp_path / "o.knb", key_map={"cam": "img"})
    db = kinonb.open(tmp_path / "o.knb")
    assert [db.read_meta(i)["num_frames"] for i in range(3)] == [3, 4, 5]
    ep = db.read_episode(1)
    same(ep["actions"], arrays["action"][3:7])
    same(ep["states"], arrays["state"][3:7])  # float64 kept, bit-exact (format 1.1)
    same(ep["rewards"], arrays["reward"][3:7])
    same(ep["is_terminal"], np.array([0, 0, 0, 1], bool))
    same(ep["eef_quat"], arrays["eef_quat"][3:7])  # float64 kept
    same(ep["images"]["cam"], arrays["img"][3:7].astype(np.uint8))
    assert ep["meta"]["total_reward"] == float(arrays["reward"][3:7].astype(np.float64).sum())
    assert "rewards from data/reward" in report.notes and "is_terminal from data/done" in report.notes


def test_non_integral_float_image_is_an_error_not_a_rounding(tmp_path):
    img = np.full((12, 4, 6, 3), 10.0, np.float32)
    img[5, 1, 2, 0] = 10.5
    write_buffer(tmp_path / "b.zarr", img=img)
    with pytest.raises(SourceLayoutError, match=r"data/img: expected integer image values 0\.\.255.*found 10\.5 at row 5, pixel \(1, 2, 0\)"):
        ingest_zarr(tmp_path / "b.zarr", tmp_path / "o.knb")
    assert not (tmp_path / "o.knb").exists()
    with pytest.raises(SourceLayoutError, match=r"values in \[0\.0, 1\.0\]|0\.\.255"):
        to_uint8_image(np.array([[[[0.5]]]], np.float32) * 600, "x")


def test_layout_errors(tmp_path):
    write_buffer(tmp_path / "a.zarr", extra={"short": np.zeros((11, 2), np.float32)})
    with pytest.raises(SourceLayoutError, match=r"data/short with 12 rows.*shape \(11, 2\)"):
        ingest_zarr(tmp_path / "a.zarr", tmp_path / "o.knb")
    root = zarr.open_group(str(tmp_path / "b.zarr"), mode="w", zarr_format=2)
    root.create_group("data").create_array("action", shape=(3, 2), dtype="f4")
    with pytest.raises(SourceLayoutError, match=r"groups data/ and meta/.*found groups \['data'\]"):
        ingest_zarr(tmp_path / "b.zarr", tmp_path / "o.knb")
    root.create_group("meta")
    with pytest.raises(SourceLayoutError, match="meta/episode_ends"):
        ingest_zarr(tmp_path / "b.zarr", tmp_path / "o.knb")
    write_buffer(tmp_path / "c.zarr", extra={}, ends=(3, 3, 12))
    with pytest.raises(SourceLayoutError, match="strictly increasing"):
        ingest_zarr(tmp_path / "c.zarr", tmp_path / "o.knb")
    with pytest.raises(SourceLayoutError, match=r"data/pos \(mapped to actions\)"):
        write_buffer(tmp_path / "d.zarr")
        ingest_zarr(tmp_path / "d.zarr", tmp_path / "o.knb", key_map={"actions": "pos"})
    with pytest.raises(SourceLayoutError, match="a zarr group"):
        ingest_zarr(tmp_path, tmp_path / "o.knb")


def test_missing_zarr_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(MissingExtraError, match=r"kinonb\[zarr\]"):
        ingest_zarr(tmp_path, tmp_path / "o.knb")
