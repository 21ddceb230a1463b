"""The five dataset shapes of issue 13 ingest in a few lines each and read back exactly (generated data of the
same shapes): DAPG Adroit pickles, a LeRobot v3.0 dual-arm set, an SO-101 datasets export (save_to_disk), MuJoCo
npz-per-episode rollouts with images and RoboHive reference motions. Each is ingested through the Python API
and through ``kinonb ingest`` (format detected), and both files must read back the same.

These assert format 1.1's writer (float64 kept, T+1 state rows, actions=None, episode arrays, timestamps):
until it lands they fail at add_episode."""

import json
import pickle

import numpy as np
import pytest

import kinonb
from kinonb.cli import main
from kinonb.interop.ingest import ingest
from kinonb.testing import assert_same as same

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")


def both(tmp_path, src, *argv, **options):
    """The file ``ingest(src, ...)`` writes and the file ``kinonb ingest src ...`` writes, opened."""
    api, cli = tmp_path / "api.knb", tmp_path / "cli.knb"
    report = ingest(src, api, **options)
    assert main(["-q", "ingest", str(src), "-o", str(cli), *map(str, argv)]) == 0
    return report, kinonb.open(api), kinonb.open(cli)


# ---- DAPG Adroit: a pickle of a list of episode dicts, float64, init_state_dict a nested dict of arrays ----------

def dapg_pickle(path, lengths=(7, 9)):
    rng = np.random.default_rng(1)
    paths = [{"observations": rng.normal(size=(t, 39)), "actions": rng.normal(size=(t, 28)),
              "rewards": rng.normal(size=t),
              "init_state_dict": {"qpos": rng.normal(size=30), "qvel": rng.normal(size=30),
                                  "board_pos": rng.normal(size=3)}} for t in lengths]
    path.write_bytes(pickle.dumps(paths, protocol=4))
    return paths


def test_dapg_pickle(tmp_path):
    src = tmp_path / "door-v0_demos.pickle"
    paths = dapg_pickle(src)
    report, *dbs = both(tmp_path, src)
    assert report.format == "pickle" and report.episodes == 2
    for db in dbs:
        for i, want in enumerate(paths):
            ep = db.read_episode(i)
            same(ep["actions"], want["actions"])  # float64 kept
            same(ep["states"], want["observations"])
            same(ep["rewards"], want["rewards"])
            for k, v in want["init_state_dict"].items():
                same(ep["episode_arrays"][f"init_state_dict.{k}"], v)
            assert ep["meta"]["total_reward"] == pytest.approx(float(want["rewards"].sum()))
            assert db.read_meta(i)["action_dim"] == 28 and db.read_meta(i)["state_dim"] == 39


# ---- LeRobot v3.0 dual-arm: action and state widths differ -----------------------------------------------------

def lerobot_v30_dual_arm(root, lengths=(5, 8)):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(2)
    features = {"action": {"dtype": "float32", "shape": [14]}, "observation.state": {"dtype": "float32", "shape": [16]},
                "timestamp": {"dtype": "float32", "shape": [1]}, "frame_index": {"dtype": "int64", "shape": [1]},
                "episode_index": {"dtype": "int64", "shape": [1]}, "task_index": {"dtype": "int64", "shape": [1]}}
    info = {"codebase_version": "v3.0", "robot_type": "bi_so101_follower", "fps": 30, "features": features,
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"}
    for d in ("meta/episodes/chunk-000", "data/chunk-000"):
        (root / d).mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    pq.write_table(pa.table({"task_index": [0], "task": ["fold the towel"]}), root / "meta" / "tasks.parquet")
    parts, rows, want = [], [], []
    for e, t in enumerate(lengths):
        act, st = rng.normal(size=(t, 14)).astype(np.float32), rng.normal(size=(t, 16)).astype(np.float32)
        want.append((act, st))
        parts.append(pa.table({"action": pa.FixedSizeListArray.from_arrays(pa.array(act.reshape(-1)), 14),
                               "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(st.reshape(-1)), 16),
                               "timestamp": pa.array((np.arange(t) / 30).astype(np.float32)),
                               "frame_index": pa.array(np.arange(t)), "episode_index": pa.array([e] * t),
                               "task_index": pa.array([0] * t)}))
        rows.append({"episode_index": e, "data/chunk_index": 0, "data/file_index": 0, "length": t,
                     "tasks": ["fold the towel"]})
    pq.write_table(pa.concat_tables(parts), root / "data" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.Table.from_pylist(rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    return want


def test_lerobot_v30_dual_arm(tmp_path):
    src = tmp_path / "bimanual"
    want = lerobot_v30_dual_arm(src)
    report, *dbs = both(tmp_path, src)
    assert report.format == "lerobot"
    for db in dbs:
        for i, (act, st) in enumerate(want):
            ep = db.read_episode(i)
            same(ep["actions"], act)
            same(ep["states"], st)
            assert (ep["meta"]["task"], ep["meta"]["embodiment"], ep["meta"]["fps"]) == \
                ("fold the towel", "bi_so101_follower", 30.0)
            assert (db.read_meta(i)["action_dim"], db.read_meta(i)["state_dim"]) == (14, 16)


# ---- SO-101 datasets export (save_to_disk): Arrow stream + state.json, no meta/info.json ----------------------

def so101_save_to_disk(root, lengths=(6, 4)):
    """The folder ``Dataset.save_to_disk`` writes (episodes interleaved out of order, to test the grouping)."""
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(3)
    root.mkdir()
    want, cols = {}, {k: [] for k in ("action", "observation.state", "episode_index", "frame_index", "timestamp",
                                      "index")}
    for e, t in enumerate(lengths):
        want[e] = (rng.normal(size=(t, 6)).astype(np.float32), rng.normal(size=(t, 6)).astype(np.float32),
                   (np.arange(t) / 30).astype(np.float32))
    order = sorted(((e, f) for e, t in enumerate(lengths) for f in range(t)), key=lambda x: (x[1], -x[0]))
    for n, (e, f) in enumerate(order):
        for k, v in zip(("action", "observation.state", "timestamp"), want[e]):
            cols[k].append(v[f].tolist() if v.ndim > 1 else float(v[f]))
        cols["episode_index"].append(e), cols["frame_index"].append(f), cols["index"].append(n)
    table = pa.table({"action": pa.array(cols["action"], pa.list_(pa.float32(), 6)),
                      "observation.state": pa.array(cols["observation.state"], pa.list_(pa.float32(), 6)),
                      "timestamp": pa.array(cols["timestamp"], pa.float32()),
                      **{k: pa.array(cols[k], pa.int64()) for k in ("episode_index", "frame_index", "index")}})
    with pa.OSFile(str(root / "data-00000-of-00001.arrow"), "wb") as sink, \
            pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    (root / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                                                 "_fingerprint": "0", "_format_type": None, "_split": None}))
    (root / "dataset_info.json").write_text(json.dumps({"features": {}}))
    return want


def test_so101_save_to_disk(tmp_path):
    src = tmp_path / "so101_export"
    want = so101_save_to_disk(src)
    report, *dbs = both(tmp_path, src, "--embodiment", "so101_follower", "--fps", 30, embodiment="so101_follower",
                        fps=30)
    assert report.format == "hf_datasets" and report.episodes == 2
    for db in dbs:
        for i, (act, st, ts) in enumerate(want.values()):
            ep = db.read_episode(i)
            same(ep["actions"], act)
            same(ep["states"], st)
            same(ep["timestamps"], ts.astype(np.float64))  # float32 seconds widened exactly
            same(ep["frame_index"], np.arange(len(act)))
            assert ep["meta"]["episode_id"] == i and ep["meta"]["embodiment"] == "so101_follower"


# ---- MuJoCo rollouts: one npz per episode, obs with T+1 rows, images (T, H, W, 3) uint8, meta.json -------------

def mujoco_rollouts(root, lengths=(5, 7)):
    rng = np.random.default_rng(4)
    root.mkdir()
    want = []
    for i, t in enumerate(lengths):
        ep = {"obs": rng.normal(size=(t + 1, 17)), "actions": rng.normal(size=(t, 6)), "rewards": rng.normal(size=t),
              "images": rng.integers(0, 256, (t, 12, 10, 3), dtype=np.uint8)}
        np.savez_compressed(root / f"rollout_{i}.npz", **ep)
        (root / f"rollout_{i}.json").write_text(json.dumps({"task": "HalfCheetah-v4", "fps": 20, "seed": i}))
        want.append(ep)
    return want


def test_mujoco_npz_rollouts(tmp_path):
    src = tmp_path / "rollouts"
    want = mujoco_rollouts(src)
    report, *dbs = both(tmp_path, src)
    assert report.format == "npz" and report.cameras == ["image"]
    for db in dbs:
        for i, w in enumerate(want):
            ep = db.read_episode(i)
            same(ep["states"], w["obs"])  # T+1 rows: the final observation kept
            same(ep["actions"], w["actions"])
            same(ep["rewards"], w["rewards"])
            same(ep["images"]["image"], w["images"])
            meta = ep["meta"]
            assert (meta["task"], meta["fps"], meta["num_frames"], meta["attrs"]["meta.seed"]) == \
                ("HalfCheetah-v4", 20.0, len(w["actions"]), i)


# ---- RoboHive reference motions: float64, no actions -----------------------------------------------------------

def robohive_motion(path, t=11):
    rng = np.random.default_rng(5)
    ref = {"time": np.arange(t) * 0.02, "robot": rng.normal(size=(t, 30)), "object": rng.normal(size=(t, 7)),
           "robot_init": rng.normal(size=30), "object_init": rng.normal(size=7)}
    np.savez(path, **ref)
    return ref


def test_robohive_reference_motion(tmp_path):
    src = tmp_path / "ADL_pour.npz"
    ref = robohive_motion(src)
    report, *dbs = both(tmp_path, src, "--map", "states=robot", key_map={"states": "robot"})
    assert report.format == "npz" and report.episodes == 1
    for db in dbs:
        ep = db.read_episode(0)
        assert ep["actions"] is None and db.read_meta(0)["action_dim"] == 0
        same(ep["states"], ref["robot"])
        same(ep["object"], ref["object"])
        same(ep["timestamps"], ref["time"])
        same(ep["episode_arrays"]["robot_init"], ref["robot_init"])
        same(ep["episode_arrays"]["object_init"], ref["object_init"])


# ---- the other generic layouts ---------------------------------------------------------------------------------

def test_concatenated_npz_and_flat_zarr(tmp_path):
    rng = np.random.default_rng(6)
    ends = np.array([3, 8, 10])
    data = {"action": rng.normal(size=(10, 2)), "obs": {"qpos": rng.normal(size=(10, 4))}}
    np.savez(tmp_path / "cat.npz", episode_ends=ends, action=data["action"], **{"obs/qpos": data["obs"]["qpos"]})
    sources = [tmp_path / "cat.npz"]
    try:
        import zarr

        root = zarr.open_group(str(tmp_path / "cat.zarr"), mode="w")
        root.create_array("episode_ends", data=ends)
        root.create_array("action", data=data["action"])
        root.create_array("qpos", data=data["obs"]["qpos"])
        sources.append(tmp_path / "cat.zarr")
    except ImportError:
        pass
    for src in sources:
        states = "obs.qpos" if src.suffix == ".npz" else "qpos"
        db = kinonb.open(ingest(src, tmp_path / f"{src.suffix[1:]}.knb", key_map={"states": states}).output)
        for i, (a, b) in enumerate(zip([0, 3, 8], ends)):
            same(db.read_episode(i)["actions"], data["action"][a:b])
            same(db.read_episode(i)["states"], data["obs"]["qpos"][a:b])


def test_per_episode_widths(tmp_path):
    """A single-arm and a dual-arm episode in one folder: each keeps its own width (format 1.1)."""
    rng = np.random.default_rng(7)
    (tmp_path / "mixed").mkdir()
    want = [rng.normal(size=(4, 7)).astype(np.float32), rng.normal(size=(5, 14)).astype(np.float32)]
    for i, a in enumerate(want):
        np.savez(tmp_path / "mixed" / f"ep{i}.npz", action=a)
    db = kinonb.open(ingest(tmp_path / "mixed", tmp_path / "m.knb").output)
    for i, a in enumerate(want):
        same(db.read_episode(i)["actions"], a)
        assert db.read_meta(i)["action_dim"] == a.shape[1]
