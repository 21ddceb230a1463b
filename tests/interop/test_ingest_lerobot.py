"""LeRobot v2.1 / v3.0 ingest: every array equals what pyarrow reads, exactly; missing videos are reported per
episode (video cameras themselves: test_ingest_lerobot_video.py)."""

import json
import sys

import numpy as np
import pytest

import kinonb
from kinonb.interop.ingest import IngestWarning, MissingExtraError, SourceLayoutError
from kinonb.interop.ingest.lerobot import column_to_numpy, ingest_lerobot
from kinonb.testing import assert_same as same
from kinonb.testing import png

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")

BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def native(table, name):
    """A column as pyarrow gives it, stacked with numpy (not through kinonb's converter)."""
    col = table.column(name).to_pylist()
    return np.array(col, dtype=table.schema.field(name).type.value_type.to_pandas_dtype()
                    if pa.types.is_fixed_size_list(table.schema.field(name).type)
                    else table.schema.field(name).type.to_pandas_dtype())


def dataset(datasets_dir, name):
    path = datasets_dir / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def check_episode(ep, table, info):
    same(ep["actions"], native(table, "action"))
    same(ep["states"], native(table, "observation.state"))
    for name in BOOKKEEPING:
        same(ep[name], native(table, name))
    t = table.num_rows
    same(ep["is_terminal"], np.arange(t) == t - 1)
    assert ep["rewards"] is None
    meta = ep["meta"]
    assert meta["episode_id"] == table.column("episode_index")[0].as_py()
    assert (meta["embodiment"], meta["fps"]) == (info["robot_type"], float(info["fps"]))


def test_v30_matches_pyarrow(datasets_dir, tmp_path):
    root = dataset(datasets_dir, "lerobot_v30_so101_record_test")
    info = json.loads((root / "meta" / "info.json").read_text())
    with pytest.warns(IngestWarning, match="missing"):
        report = ingest_lerobot(root, tmp_path / "o.knb")
    assert sorted(report.skipped) == sorted(
        f"camera 'observation.images.{c}' of episode {e}: its video videos/observation.images.{c}/chunk-000/"
        "file-000.mp4 is missing; the episode is written without this camera" for c in ("front", "top")
        for e in range(4))
    assert "camera 'observation.images.front': video missing for 4 episodes (each listed in skipped)" in report.notes
    data = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    episodes = pq.read_table(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    db = kinonb.open(tmp_path / "o.knb")
    assert len(db) == len(episodes) == 4 and db.num_frames() == data.num_rows == 1492
    for i, row in enumerate(episodes):
        rows = data.slice(row["dataset_from_index"], row["dataset_to_index"] - row["dataset_from_index"])
        ep = db.read_episode(i)
        check_episode(ep, rows, info)
        assert ep["meta"]["task"] == row["tasks"][0] == "Pick the orange cube and place it in the box"
        assert ep["meta"]["attrs"] == {"split": "train"}


def test_v21_matches_pyarrow(datasets_dir, tmp_path):
    root = dataset(datasets_dir, "lerobot_v21_unitree_g1_inspire_pick_bottle")
    info = json.loads((root / "meta" / "info.json").read_text())
    with pytest.warns(IngestWarning, match="observation.images.cam_high"):
        report = ingest_lerobot(root, tmp_path / "o.knb", max_episodes=30, compression="lz4", transcode="lz4")
    assert len(report.skipped) == 28 and all("is missing" in line for line in report.skipped)
    tasks = [json.loads(line) for line in (root / "meta" / "tasks.jsonl").read_text().splitlines()]
    db = kinonb.open(tmp_path / "o.knb")
    assert len(db) == report.episodes == 30
    for i in range(30):
        table = pq.read_table(root / "data" / "chunk-000" / f"episode_{i:06d}.parquet")
        ep = db.read_episode(i)
        check_episode(ep, table, info)
        assert ep["meta"]["task"] == tasks[0]["task"]
        assert list(ep["images"]) == (["observation.images.cam_high"] if i in (1, 2) else [])


def test_overrides_and_key_map(datasets_dir, tmp_path):
    root = dataset(datasets_dir, "lerobot_v30_so101_record_test")
    with pytest.warns(IngestWarning):
        ingest_lerobot(root, tmp_path / "o.knb", embodiment="so101", task="pick", fps=15, max_episodes=2,
                       key_map={"actions": "observation.state", "states": "action", "t": "timestamp"})
    db = kinonb.open(tmp_path / "o.knb")
    table = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet").slice(0, 373)
    ep = db.read_episode(0)
    same(ep["actions"], native(table, "observation.state"))
    same(ep["t"], native(table, "timestamp"))
    assert "timestamp" not in ep and (ep["meta"]["embodiment"], ep["meta"]["task"], ep["meta"]["fps"]) == \
        ("so101", "pick", 15.0)


def write_v21(root, n=3, action_dtype=np.float32):
    """A LeRobot v2.1 dataset with an image feature (PNG in parquet), rewards, dones and success."""
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    features = {
        "observation.image": {"dtype": "image", "shape": [6, 5, 3], "names": ["height", "width", "channel"]},
        "observation.state": {"dtype": "float32", "shape": [2]},
        "action": {"dtype": np.dtype(action_dtype).name, "shape": [3]},
        "observation.effort": {"dtype": "float64", "shape": [2, 2]},
        "next.reward": {"dtype": "float32", "shape": [1]},
        "next.done": {"dtype": "bool", "shape": [1]},
        "next.success": {"dtype": "bool", "shape": [1]},
        "episode_index": {"dtype": "int64", "shape": [1]},
        "task_index": {"dtype": "int64", "shape": [1]},
    }
    info = {"codebase_version": "v2.1", "robot_type": "koch", "fps": 50, "chunks_size": 1000,
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "splits": {"train": "0:2", "test": "2:3"}, "features": features}
    (root / "meta").mkdir(parents=True)
    (root / "data" / "chunk-000").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    (root / "meta" / "tasks.jsonl").write_text('{"task_index": 0, "task": "pour"}\n{"task_index": 1, "task": "stir"}\n')
    lines, written = [], []
    for e in range(n):
        t = 4 + e
        img = rng.integers(0, 256, (t, 6, 5, 3), dtype=np.uint8)
        cols = {
            "observation.image": pa.array([{"bytes": png(f), "path": None} for f in img],
                                          pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(rng.normal(size=2 * t).astype(np.float32)), 2),
            "action": pa.array(list(rng.normal(size=(t, 3)).astype(action_dtype)),
                               pa.list_(pa.from_numpy_dtype(np.dtype(action_dtype)))),
            "observation.effort": pa.array(rng.normal(size=(t, 2, 2)).tolist(), pa.list_(pa.list_(pa.float64(), 2), 2)),
            "next.reward": pa.array(rng.random(t).astype(np.float32)),
            "next.done": pa.array(np.arange(t) == t - 1),
            "next.success": pa.array([False] * (t - 1) + [e != 1]),
            "episode_index": pa.array([e] * t, pa.int64()),
            "task_index": pa.array([0] * (t - 1) + [e % 2], pa.int64()),
        }
        table = pa.table(cols)
        pq.write_table(table, root / "data" / "chunk-000" / f"episode_{e:06d}.parquet")
        lines.append(json.dumps({"episode_index": e, "tasks": ["pour"] + (["stir"] if e % 2 else []), "length": t}))
        written.append((table, img))
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    return written


def test_synthetic_v21_images_rewards_dones(tmp_path):
    written = write_v21(tmp_path / "ds")
    report = ingest_lerobot(tmp_path / "ds", tmp_path / "o.knb")
    assert not report.skipped
    db = kinonb.open(tmp_path / "o.knb")
    for e, (table, img) in enumerate(written):
        ep = db.read_episode(e)
        same(ep["images"]["observation.image"], img)  # PNG: lossless
        same(ep["actions"], np.array(table.column("action").to_pylist(), np.float32))
        same(ep["observation.effort"], np.array(table.column("observation.effort").to_pylist(), np.float64))
        same(ep["rewards"], table.column("next.reward").to_numpy())
        same(ep["is_terminal"], table.column("next.done").to_numpy(zero_copy_only=False))
        same(ep["next.success"], table.column("next.success").to_numpy(zero_copy_only=False))
        meta = ep["meta"]
        assert meta["success"] is (e != 1)
        assert meta["total_reward"] == float(table.column("next.reward").to_numpy().astype(np.float64).sum())
        assert meta["task"] == "pour" and meta["attrs"].get("tasks") == (["pour", "stir"] if e % 2 else None)
        assert meta["attrs"]["split"] == ("train" if e < 2 else "test")
    assert db.query("attrs.split = 'test'") == [2]


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_float_actions_keep_their_dtype(tmp_path, dtype):
    """Format 1.1 keeps float16/64 actions: they read back bit-exact, and no note claims a float32 cast."""
    written = write_v21(tmp_path / "ds", n=2, action_dtype=dtype)
    report = ingest_lerobot(tmp_path / "ds", tmp_path / "o.knb")
    db = kinonb.open(tmp_path / "o.knb")
    for e, (table, _) in enumerate(written):
        same(db.read_episode(e)["actions"], np.array(table.column("action").to_pylist(), dtype))
    assert db.schema()[0]["dtype"] == np.dtype(dtype).name
    assert not any("float32" in s for s in report.notes), report.notes


def test_column_to_numpy_rejects_ragged_lists():
    with pytest.raises(ValueError, match="different lengths"):
        column_to_numpy(pa.array([[1.0, 2.0], [3.0]]))
    same(column_to_numpy(pa.array([[1, 2], [3, 4]], pa.list_(pa.int16()))), np.array([[1, 2], [3, 4]], np.int16))


def test_layout_errors(tmp_path):
    with pytest.raises(SourceLayoutError, match=r"expected meta/info.json.*found entries \[\]"):
        ingest_lerobot(tmp_path, tmp_path / "o.knb")
    write_v21(tmp_path / "ds", n=1)
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    (tmp_path / "ds" / "meta" / "info.json").write_text(json.dumps(dict(info, codebase_version="v1.6")))
    with pytest.raises(SourceLayoutError, match=r"codebase_version in \('v2.0', 'v2.1', 'v3.0'\); found 'v1.6'"):
        ingest_lerobot(tmp_path / "ds", tmp_path / "o.knb")
    (tmp_path / "ds" / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(SourceLayoutError, match=r"a feature 'act' for actions; found features \["):
        ingest_lerobot(tmp_path / "ds", tmp_path / "o.knb", key_map={"actions": "act"})
    (tmp_path / "ds" / "data" / "chunk-000" / "episode_000000.parquet").unlink()
    with pytest.raises(SourceLayoutError, match=r"data file data/chunk-000/episode_000000.parquet of episode 0"):
        ingest_lerobot(tmp_path / "ds", tmp_path / "o.knb")


def test_missing_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"kinonb\[lerobot\]"):
        ingest_lerobot(tmp_path, tmp_path / "o.knb")
