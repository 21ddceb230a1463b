"""HDF5 ingest (robomimic / LIBERO / robosuite raw demos): every array equals what h5py reads, exactly."""

import json
import re
import sys

import numpy as np
import pytest

import kinonb
from kinonb.interop.ingest import IngestWarning, MissingExtraError, SourceLayoutError
from kinonb.interop.ingest.hdf5 import ingest_hdf5

h5py = pytest.importorskip("h5py")

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")

ROBOSUITE = [
    "v0.3.0/BaxterLift", "v0.3.0/BaxterPegInHole", "v0.3.0/SawyerLift", "v0.3.0/SawyerNutAssembly",
    "v0.3.0/SawyerPickPlace", "v0.3.0/SawyerStack", "v1.0.1/door", "v1.0.1/lift", "v1.0.1/nut-assembly",
    "v1.0.1/pick-place", "v1.0.1/stack", "v1.0.1/wipe", "v1.4.1/handover_panda_panda", "v1.4.1/lift",
]


def demo_names(f):
    return sorted((k for k in f["data"] if k.startswith("demo_")), key=lambda k: int(k.split("_")[1]))


def same(got, want):
    """Exact equality, dtype included (max abs diff 0.0)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f")


def source(datasets_dir, *parts):
    path = datasets_dir.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("name", ["lift_ph", "maniskill_pickcube_v1"])
def test_robomimic_file_matches_h5py(datasets_dir, tmp_path, name):
    src = source(datasets_dir, "robomimic_hdf5_robocore_scripted", name, "low_dim.hdf5")
    out = tmp_path / "out.knb"
    report = ingest_hdf5(src, out)
    db = kinonb.open(out)
    with h5py.File(src, "r") as f:
        names = demo_names(f)
        assert report.episodes == len(db) == len(names)
        assert report.frames == db.num_frames() == sum(len(f["data"][n]["actions"]) for n in names)
        for i, n in enumerate(names):  # numeric order: demo_2 before demo_10
            g = f["data"][n]
            ep = db.read_episode(i)
            meta = ep["meta"]
            assert meta["episode_id"] == int(n.split("_")[1])
            same(ep["actions"], g["actions"][()])
            same(ep["rewards"], g["rewards"][()])
            same(ep["is_terminal"], g["dones"][()] != 0)
            same(ep["states"], g["obs/state"][()].astype(np.float32))  # the only low-dim key
            assert "state" not in ep  # stored once (issue 18 req 8): the states hold it exactly
            assert meta["attrs"]["states_layout"] == {"obs/state": [0, g["obs/state"].shape[1]]}
            rewards = g["rewards"][()]
            assert meta["success"] == bool(rewards[-1] > 0)
            assert meta["total_reward"] == float(np.sum(rewards.astype(np.float64)))
            assert meta["attrs"]["demo"] == n
            assert meta["cameras"] == [] and ep["images"] == {}
    assert any("success = last reward > 0" in s for s in report.notes)


def test_robomimic_lift_reproduces_kinodbs_own_kdb(datasets_dir, tmp_path):
    """kinodb wrote robomimic_lift_scripted.kdb from this HDF5 (panda, lift, 20 fps): hdf5 -> knb -> kdb gives
    the same bytes, so the HDF5 mapping (order, states, rewards, dones, success, total_reward) is kinodb's."""
    from kinonb.interop import KdbDatabase
    from kinonb.ops.export import export_kdb

    src = source(datasets_dir, "robomimic_hdf5_robocore_scripted", "lift_ph", "low_dim.hdf5")
    ref = source(datasets_dir, "kinodb_reference", "robomimic_lift_scripted.kdb")
    ingest_hdf5(src, tmp_path / "lift.knb", embodiment="panda", task="lift", fps=20)
    export_kdb(tmp_path / "lift.knb", tmp_path / "lift.kdb", created_timestamp=KdbDatabase(ref).header()["created_timestamp"])
    assert (tmp_path / "lift.kdb").read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("name", ROBOSUITE)
def test_robosuite_raw_demo_matches_h5py(datasets_dir, tmp_path, name):
    src = source(datasets_dir, "robosuite_demo_hdf5", *name.split("/"), "demo.hdf5")
    out = tmp_path / "out.knb"
    with pytest.warns(IngestWarning) if name.startswith("v1.4.1") else _no_warning():
        report = ingest_hdf5(src, out)
    db = kinonb.open(out)
    with h5py.File(src, "r") as f:
        names = demo_names(f)
        assert len(db) == len(names)
        env = f["data"].attrs["env"]
        dtypes = {}  # a column takes the widest dtype any demo stores (handover mixes float32 and float64)
        for n in names:
            f["data"][n].visititems(lambda p, o: dtypes.setdefault(p, []).append(o.dtype)
                                    if isinstance(o, h5py.Dataset) else None)
        for i, n in enumerate(names):
            g = f["data"][n]
            ep = db.read_episode(i)
            states = g["states"][()]
            t = len(states)
            assert ep["meta"]["episode_id"] == int(n.split("_")[1]) and ep["meta"]["num_frames"] == t
            same(ep["sim_states"], states)  # float64, exact: what replaying the demo needs
            wide = lambda path: g[path][()].astype(np.result_type(*dtypes[path]))  # noqa: E731
            same(ep["states"], wide("states"))  # float64 kept, bit-exact (format 1.1)
            if "actions" in g:
                same(ep["actions"], wide("actions"))
            elif "joint_velocities" in g:
                same(ep["actions"], np.concatenate([wide("joint_velocities"), wide("gripper_actuations")], axis=1))
            else:
                assert ep["actions"].shape == (t, 0)
            same(ep["is_terminal"], np.arange(t) == t - 1)
            assert ep["rewards"] is None and ep["meta"]["success"] is None
            assert ep["meta"]["task"] in (env, json.loads(f["data"].attrs.get("env_args", "{}")).get("env_name"))
            stored, ragged = 0, 0
            def visit(path, obj):
                nonlocal stored, ragged
                if not isinstance(obj, h5py.Dataset) or path in ("actions", "states"):
                    return
                if len(obj) == t:
                    same(ep[path], obj[()].astype(np.result_type(*dtypes[path])))  # dtype kept (or widened)
                    stored += 1
                else:
                    ragged += 1
                    assert path not in ep
            g.visititems(visit)
            if ragged:
                assert any("not one row per frame" in s for s in report.skipped)
    if name == "v1.4.1/handover_panda_panda":
        assert db.read_meta(0)["embodiment"] == "Panda+Panda" and db.read_meta(0)["fps"] == 20.0
        assert any("model_file" in s for s in report.skipped)


class _no_warning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", IngestWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_keep_large_attrs_keeps_model_file(datasets_dir, tmp_path):
    src = source(datasets_dir, "robosuite_demo_hdf5", "v1.4.1", "lift", "demo.hdf5")
    report = ingest_hdf5(src, tmp_path / "out.knb", keep_large_attrs=True, max_episodes=1)
    assert not report.skipped
    with h5py.File(src, "r") as f:
        assert kinonb.open(tmp_path / "out.knb").read_meta(0)["attrs"]["model_file"] == f["data/demo_1"].attrs["model_file"]


# ---- a synthetic robomimic / LIBERO file: images, several obs keys, masks, env metadata -------------------


def write_robomimic(path, n=12, images=True):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1,
                                             "env_kwargs": {"robots": ["Panda"], "control_freq": 20}})
        for k in range(n):
            t = 5 + k
            g = data.create_group(f"demo_{k}")
            g.attrs["num_samples"] = t
            g.create_dataset("actions", data=rng.normal(size=(t, 7)))  # float64: kept
            g.create_dataset("rewards", data=(np.arange(t) == t - 1).astype(np.float64) * (k % 2))
            g.create_dataset("dones", data=(np.arange(t) == t - 1).astype(np.int64))
            g.create_dataset("states", data=rng.normal(size=(t, 9)))
            obs = g.create_group("obs")
            obs.create_dataset("robot0_eef_pos", data=rng.normal(size=(t, 3)))
            obs.create_dataset("object", data=rng.normal(size=(t, 4)).astype(np.float32))
            obs.create_dataset("robot0_gripper_qpos", data=rng.normal(size=(t, 2)))
            obs.create_dataset("flag", data=np.arange(t) % 2 == 0)  # (T,) bool: a 1-wide state
            if images:
                obs.create_dataset("agentview_image", data=rng.integers(0, 256, (t, 8, 10, 3), dtype=np.uint8))
            nxt = g.create_group("next_obs")
            nxt.create_dataset("object", data=np.zeros((t, 4), np.float32))
        mask = f.create_group("mask")
        mask.create_dataset("train", data=np.array([f"demo_{k}".encode() for k in range(n) if k % 4]))
        mask.create_dataset("valid", data=np.array([f"demo_{k}".encode() for k in range(n) if k % 4 == 0]))
    return path


def test_synthetic_robomimic_mapping(tmp_path):
    src = write_robomimic(tmp_path / "image.hdf5")
    out = tmp_path / "out.knb"
    report = ingest_hdf5(src, out, compression="lz4")
    db = kinonb.open(out)
    assert len(db) == 12
    with h5py.File(src, "r") as f:
        for i in range(12):
            g = f["data"][f"demo_{i}"]
            ep = db.read_episode(i)
            keys = sorted(["robot0_eef_pos", "object", "robot0_gripper_qpos", "flag"])
            parts = [g["obs"][k][()].reshape(len(g["actions"]), -1) for k in keys]
            want = np.concatenate([a if a.dtype.kind == "f" else a.astype(np.float32) for a in parts], axis=1)
            same(ep["states"], want)  # sorted key order; float64 + float32 + bool -> float64, bit-exact
            layout = ep["meta"]["attrs"]["states_layout"]
            for k in keys:  # each key stored once, in the states, and given back exactly by its layout slice
                assert k not in ep
                a, b = layout[f"obs/{k}"]
                src = g["obs"][k][()]
                same(ep["states"][:, a:b].astype(src.dtype).reshape(src.shape), src)
            same(ep["images"]["agentview_image"], g["obs/agentview_image"][()])
            same(ep["sim_states"], g["states"][()])
            same(ep["actions"], g["actions"][()])  # float64 kept
            same(ep["rewards"], g["rewards"][()])
            same(ep["is_terminal"], g["dones"][()] == 1)
            meta = ep["meta"]
            assert meta["attrs"]["mask"] == (["train"] if i % 4 else ["valid"])
            assert meta["attrs"]["num_samples"] == len(g["actions"])
            assert (meta["task"], meta["embodiment"], meta["fps"]) == ("Lift", "Panda", 20.0)
            assert meta["success"] == bool(i % 2)
    assert db.query("attrs.mask CONTAINS 'valid'") == [0, 4, 8]
    assert any(s.startswith("data/demo_*/next_obs") for s in report.skipped)
    assert not any("float32" in s for s in report.notes), report.notes  # nothing is cast, so no note says so


def test_filter_key_overrides_and_max_episodes(tmp_path):
    src = write_robomimic(tmp_path / "x.hdf5", images=False)
    report = ingest_hdf5(src, tmp_path / "a.knb", filter_key="valid", task="lift the cube", embodiment="franka",
                         fps=5)
    db = kinonb.open(tmp_path / "a.knb")
    assert [db.read_meta(i)["episode_id"] for i in range(len(db))] == [0, 4, 8] == [0, 4, 8][: report.episodes]
    assert {(m["task"], m["embodiment"], m["fps"]) for m in map(db.read_meta, range(len(db)))} == \
        {("lift the cube", "franka", 5.0)}
    ingest_hdf5(src, tmp_path / "b.knb", max_episodes=3, key_map={"states": "obs/object", "eef": "obs/robot0_eef_pos"})
    db = kinonb.open(tmp_path / "b.knb")
    assert len(db) == 3 and db.read_meta(0)["state_dim"] == 4
    assert "eef" in db.column_names() and "robot0_eef_pos" not in db.column_names()
    with pytest.raises(SourceLayoutError, match=r"mask/nope.*filters \['train', 'valid'\]"):
        ingest_hdf5(src, tmp_path / "c.knb", filter_key="nope")


def test_libero_problem_info_gives_the_task(tmp_path):
    src = write_robomimic(tmp_path / "libero.hdf5", n=2, images=False)
    with h5py.File(src, "a") as f:
        f["data"].attrs["problem_info"] = json.dumps({"language_instruction": "put the bowl on the plate"})
    ingest_hdf5(src, tmp_path / "out.knb")
    assert kinonb.open(tmp_path / "out.knb").read_meta(1)["task"] == "put the bowl on the plate"


def test_layout_errors_say_what_was_expected_and_found(tmp_path):
    src = tmp_path / "bad.hdf5"
    with h5py.File(src, "w") as f:
        f.create_group("episodes").create_dataset("x", data=np.zeros(3))
    with pytest.raises(SourceLayoutError, match=r"expected a top-level 'data' group.*found top-level keys \['episodes'\]"):
        ingest_hdf5(src, tmp_path / "o.knb")
    with h5py.File(src, "a") as f:
        f.create_group("data").create_group("trajectory_0")
    with pytest.raises(SourceLayoutError, match=re.escape("no") + r"|expected data/demo_<N> groups; found groups in data/: \['trajectory_0'\]"):
        ingest_hdf5(src, tmp_path / "o.knb")
    with h5py.File(src, "a") as f:
        f["data"].create_group("demo_0").create_dataset("joint_pos", data=np.zeros((4, 2)))
    with pytest.raises(SourceLayoutError, match=r"demo_0/actions.*found datasets \['joint_pos'\]"):
        ingest_hdf5(src, tmp_path / "o.knb")
    ingest_hdf5(src, tmp_path / "o.knb", key_map={"actions": "joint_pos", "states": "joint_pos"})
    assert kinonb.open(tmp_path / "o.knb").read_meta(0)["action_dim"] == 2
    assert not (tmp_path / "o.knb.tmp").exists()
    with pytest.raises(SourceLayoutError, match="expected an HDF5 file; found a directory"):
        ingest_hdf5(tmp_path, tmp_path / "p.knb")
    with pytest.raises(FileExistsError, match="overwrite"):
        ingest_hdf5(src, tmp_path / "o.knb", key_map={"actions": "joint_pos"})


def test_a_failed_ingest_leaves_no_output(tmp_path):
    src = tmp_path / "bad.hdf5"
    with h5py.File(src, "w") as f:
        g = f.create_group("data")
        g.create_group("demo_0").create_dataset("actions", data=np.zeros((4, 2)))
        g.create_group("demo_1").create_dataset("actions", data=np.zeros((4, 2)))
        g["demo_0"].create_group("obs").create_dataset("x", data=np.zeros((4, 1, 2)))
        g["demo_1"].create_group("obs").create_dataset("x", data=np.zeros((4, 1, 2, 3)))  # another rank
    with pytest.raises(kinonb.SchemaError, match="data/demo_1: .*x"):
        ingest_hdf5(src, tmp_path / "o.knb")
    assert list(tmp_path.iterdir()) == [src]


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingExtraError, match=r"kinonb\[hdf5\]"):
        ingest_hdf5(tmp_path / "x.hdf5", tmp_path / "o.knb")
    assert issubclass(MissingExtraError, ImportError)


def test_obs_the_states_cannot_hold_exactly_stay_columns(tmp_path):
    """Issue 18 req 8: an obs key is stored once, in the states, only when they give it back bit for bit; an
    integer the float states would round stays its own column, and a key_map states key is held likewise."""
    src = tmp_path / "ints.hdf5"
    big = np.array([[2**24 + 1], [3], [5], [7]], np.int64)  # float32 rounds 2**24 + 1
    with h5py.File(src, "w") as f:
        d = f.create_group("data").create_group("demo_0")
        d.create_dataset("actions", data=np.zeros((4, 2), np.float32))
        d.create_dataset("obs/count", data=big)
        d.create_dataset("obs/pos", data=np.arange(8, dtype=np.float32).reshape(4, 2))
    ingest_hdf5(src, tmp_path / "a.knb")
    ep = kinonb.open(tmp_path / "a.knb").read_episode(0)
    same(ep["count"], big)
    assert "pos" not in ep and ep["meta"]["attrs"]["states_layout"] == {"obs/pos": [1, 3]}
    same(ep["states"][:, 1:3], np.arange(8, dtype=np.float32).reshape(4, 2))
    ingest_hdf5(src, tmp_path / "b.knb", key_map={"states": "obs/pos"})
    ep = kinonb.open(tmp_path / "b.knb").read_episode(0)
    assert "pos" not in ep and ep["meta"]["attrs"]["states_layout"] == {"obs/pos": [0, 2]}
    same(ep["count"], big)
