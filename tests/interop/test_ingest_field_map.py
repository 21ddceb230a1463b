"""The generic formats' parsing, without the writer: field maps, dotted lookup, tree -> add_episode kwargs,
npz / pickle / datasets readers, detection. (The end-to-end files are in test_ingest_generic.py.)"""

import json
import pickle
import zipfile

import numpy as np
import pytest

from kinonb.errors import InvalidArgumentError, MissingFileError, SourceLayoutError
from kinonb.interop.ingest.detect import detect
from kinonb.interop.ingest.field_map import (
    MISSING,
    flatten,
    lookup,
    parse_field_map,
    split_target,
)
from kinonb.interop.ingest.generic import episode_kwargs
from kinonb.interop.ingest.npz import check_ends, episode_files, read_npz
from kinonb.store.report import Report
from kinonb.testing import assert_same as same

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")


def kwargs(tree, key_map=None):
    report = Report("ingest", source="src", output="out")
    return episode_kwargs(tree, parse_field_map(key_map), report, "ep"), report


# ---- field map -----------------------------------------------------------------------------------------------

def test_lookup_matches_whole_keys_before_splitting():
    a, b, c = np.zeros(1), np.ones(1), np.full(1, 2.0)
    tree = {"observation.state": a, "obs": {"qpos": b, "nested": {"x.y": c}}}
    assert lookup(tree, "observation.state") == ("observation.state", a)
    assert lookup(tree, "obs.qpos") == ("obs.qpos", b) and lookup(tree, "obs/qpos") == ("obs.qpos", b)
    assert lookup(tree, "obs/nested/x.y")[1] is c
    assert lookup(tree, "obs.nope") == (None, MISSING)
    assert set(flatten(tree)) == {"observation.state", "obs.qpos", "obs.nested.x.y"}


def test_split_target_and_bad_maps():
    assert split_target("actions") == ("role", "actions") and split_target("task") == ("meta", "task")
    assert split_target("images.front") == ("images", "front")
    assert split_target("episode_arrays.init") == ("episode_arrays", "init")
    assert split_target("top") == ("rename", "top")
    for bad in ({"images.": "x"}, {"actions": ""}, {"": "x"}):
        with pytest.raises(InvalidArgumentError):
            parse_field_map(bad)


def test_flatten_refuses_unbounded_nesting():
    tree = leaf = {}
    for _ in range(40):
        leaf["d"] = {}
        leaf = leaf["d"]
    with pytest.raises(InvalidArgumentError, match="16 levels"):
        flatten(tree)


# ---- tree -> add_episode kwargs ---------------------------------------------------------------------------------

def test_float64_t_plus_one_and_defaults():
    rng = np.random.default_rng(0)
    tree = {"obs": rng.normal(size=(6, 3)), "actions": rng.normal(size=(5, 2)), "rewards": rng.normal(size=(5, 1)),
            "dones": np.arange(5) == 4, "images": rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8),
            "init_state_dict": {"qpos": np.zeros(5)}, "extra": rng.normal(size=(6, 2)), "meta": {"task": "t",
            "fps": 15, "seed": 3, "blob": object()}}
    ep, report = kwargs(tree)
    same(ep["actions"], tree["actions"])  # float64 kept
    same(ep["states"], tree["obs"])  # T+1 rows kept
    same(ep["rewards"], tree["rewards"].reshape(5))
    same(ep["is_terminal"], tree["dones"])
    same(ep["images"]["image"], tree["images"])
    same(ep["episode_arrays"]["init_state_dict.qpos"], tree["init_state_dict"]["qpos"])  # "init": per episode
    same(ep["columns"]["extra"], tree["extra"])  # T+1 rows: a column
    assert (ep["task"], ep["fps"], ep["attrs"]) == ("t", 15.0, {"meta.seed": 3})
    assert any("meta.blob" in s for s in report.skipped)
    assert ep["total_reward"] == pytest.approx(float(tree["rewards"].sum()))


def test_no_actions_counts_frames_from_timestamps():
    tree = {"time": np.arange(4) * 0.1, "robot": np.ones((4, 3)), "robot_init": np.ones(3)}
    ep, report = kwargs(tree)
    assert ep["actions"] is None and "no actions in the source: actions=None (action_dim 0)" in report.notes
    same(ep["timestamps"], tree["time"])
    same(ep["columns"]["robot"], tree["robot"])
    same(ep["episode_arrays"]["robot_init"], tree["robot_init"])
    ep, _ = kwargs(tree, {"states": "robot", "timestamps": "time"})
    same(ep["states"], tree["robot"])
    ep, _ = kwargs({"robot": np.ones((4, 3)), "object": np.ones((5, 2))})  # T and T+1: T is the smaller
    assert len(ep["is_terminal"]) == 4 and ep["columns"]["object"].shape == (5, 2)


def test_mapped_targets():
    tree = {"act": np.ones((3, 2), np.float32), "o": {"q": np.zeros((3, 4))}, "cam": np.zeros((3, 2, 2, 1), np.uint8),
            "ts": np.arange(3, dtype=np.int64) * 1000, "label": "wipe", "init": np.ones(2), "v": np.ones(3)}
    ep, _ = kwargs(tree, {"actions": "act", "states": "o.q", "images.wrist": "cam", "timestamps": "ts",
                          "task": "label", "episode_arrays.start": "init", "columns.speed": "v"})
    assert set(ep["images"]) == {"wrist"} and set(ep["episode_arrays"]) == {"start"}
    same(ep["timestamps"], tree["ts"])
    same(ep["columns"]["speed"], tree["v"])
    assert ep["task"] == "wipe" and ep["actions"].dtype == np.float32
    ep, _ = kwargs({"a": np.ones((3, 2), np.int16)}, {"actions": "a"})
    assert ep["actions"].dtype == np.float32  # other numbers: float32


def test_bad_trees_name_what_to_map():
    with pytest.raises(SourceLayoutError, match=r"'nope' \(mapped to actions\).*keys \['a'\]"):
        kwargs({"a": np.ones((3, 1))}, {"actions": "nope"})
    with pytest.raises(SourceLayoutError, match="--map actions=KEY"):
        kwargs({"a": np.ones((3, 1)), "b": np.ones((5, 1))})
    with pytest.raises(SourceLayoutError, match="states.*5 or 6 rows"):
        kwargs({"actions": np.ones((5, 1)), "states": np.ones((9, 1))})
    with pytest.raises(SourceLayoutError, match="0/1"):
        kwargs({"actions": np.ones((2, 1)), "dones": np.array([0, 2])})
    ep, report = kwargs({"actions": np.ones((3, 1)), "time": np.array([0.0, 2.0, 1.0])})
    assert "timestamps" not in ep and "obs.time" in ep["columns"]  # not non-decreasing: a column (renamed: "time" is a batch key)
    assert any("not finite and non-decreasing" in n for n in report.notes)


# ---- npz -------------------------------------------------------------------------------------------------------

def test_read_npz_nests_and_refuses_object_arrays(tmp_path):
    np.savez(tmp_path / "a.npz", **{"obs/qpos": np.ones(3), "act": np.zeros(2)},
             o=np.array([{"x": 1}], dtype=object))
    report = Report("ingest", source="a", output="b")
    tree = read_npz(tmp_path / "a.npz", report)
    assert set(tree) == {"obs", "act"} and set(tree["obs"]) == {"qpos"}
    assert any("'o'" in s and "object array" in s for s in report.skipped)


def test_read_npz_refuses_a_forged_header(tmp_path):
    """A header announcing far more bytes than the member holds is refused before numpy allocates it."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(tmp_path / "forged.npz", "w") as zf:
        zf.writestr("actions.npy", buf.getvalue() + b"\0" * 64)
    with pytest.raises(SourceLayoutError, match="forged"):
        read_npz(tmp_path / "forged.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(SourceLayoutError, match="zip"):
        read_npz(tmp_path / "bad.npz")


def test_episode_files_natural_order_and_meta(tmp_path):
    for i in (10, 2, 1):
        np.savez(tmp_path / f"ep_{i}.npz", a=np.ones(1))
    (tmp_path / "ep_2.meta.json").write_text("{}")
    assert [(p.name, m and m.name) for p, m in episode_files(tmp_path)] == \
        [("ep_1.npz", None), ("ep_2.npz", "ep_2.meta.json"), ("ep_10.npz", None)]
    sub = tmp_path / "dirs"
    for i in (0, 1):
        (sub / f"e{i}").mkdir(parents=True)
        np.savez(sub / f"e{i}" / "data.npz", a=np.ones(1))
    (sub / "e1" / "meta.json").write_text("{}")
    assert [m is not None for _, m in episode_files(sub)] == [False, True]


def test_check_ends():
    same(check_ends(np.array([2, 5], np.int32), "s"), np.array([2, 5]))
    for bad in (np.array([0, 3]), np.array([3, 3]), np.array([1.0, 2.0]), np.ones((2, 2), int)):
        with pytest.raises(SourceLayoutError):
            check_ends(bad, "s")


# ---- detection -------------------------------------------------------------------------------------------------

def test_detection_lists_what_it_tried(tmp_path):
    np.savez(tmp_path / "one.npz", a=np.ones(2))
    assert detect(tmp_path / "one.npz") == ("npz", ["kdb", "hdf5", "lerobot", "zarr", "rlds", "rrd", "npz"])
    (tmp_path / "d.pkl").write_bytes(pickle.dumps([{"a": 1}], protocol=4))
    assert detect(tmp_path / "d.pkl")[0] == "pickle"
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "state.json").write_text(json.dumps({"_data_files": []}))
    assert detect(hf)[0] == "hf_datasets"
    folder = tmp_path / "eps"
    folder.mkdir()
    np.savez(folder / "e0.npz", a=np.ones(1))
    assert detect(folder)[0] == "npz"


def test_failed_detection_names_the_closest_format(tmp_path):
    npy = tmp_path / "npys"
    npy.mkdir()
    np.save(npy / "actions.npy", np.ones(3))
    with pytest.raises(SourceLayoutError, match=r"tried \(kdb, hdf5, lerobot, zarr, rlds, rrd, npz, pickle, "
                                                r"hf_datasets\).*closest: npz.*--format npz.*--map actions=KEY"):
        detect(npy)
    arrow = tmp_path / "arrow"
    arrow.mkdir()
    (arrow / "data-00000-of-00001.arrow").write_bytes(b"x")
    with pytest.raises(SourceLayoutError, match="closest: hf_datasets.*state.json"):
        detect(arrow)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(SourceLayoutError, match="pass --format FORMAT"):
        detect(tmp_path / "x.txt")
    with pytest.raises(MissingFileError):
        detect(tmp_path / "absent")


# ---- datasets (save_to_disk) -------------------------------------------------------------------------------------

def test_hf_datasets_groups_rows_by_episode_and_frame(tmp_path):
    pa = pytest.importorskip("pyarrow")
    from kinonb.interop.ingest.hf_datasets import (
        dataset_folder,
        episode_rows,
        episode_tree,
        read_table,
    )

    root = tmp_path / "dd"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    table = pa.table({"action": pa.array([[5.0], [1.0], [2.0], [4.0]], pa.list_(pa.float32(), 1)),
                      "episode_index": pa.array([1, 0, 0, 1]), "frame_index": pa.array([1, 1, 0, 0]),
                      "task": pa.array(["b", "a", "a", "b"])})
    with pa.OSFile(str(root / "train" / "data-00000-of-00001.arrow"), "wb") as sink, \
            pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (root / "train" / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    report = Report("ingest", source=str(root), output="o")
    folder = dataset_folder(root, None, report)
    assert folder == root / "train" and any("split 'test'" in s for s in report.skipped)
    t = read_table(folder)
    eps = episode_rows(t, "episode_index", report)
    assert [i for i, _ in eps] == [0, 1]
    trees = [episode_tree(t, rows, {"episode_index"}, report) for _, rows in eps]
    same(trees[0]["action"], np.array([[2.0], [1.0]], np.float32))
    same(trees[1]["action"], np.array([[4.0], [5.0]], np.float32))
    assert trees[1]["task"] == "b" and "episode_index" not in trees[0]
    with pytest.raises(SourceLayoutError, match="split 'val'"):
        dataset_folder(root, "val", report)
    (root / "train" / "state.json").write_text(json.dumps({"_data_files": [{"filename": "../../etc/passwd"}]}))
    with pytest.raises(SourceLayoutError, match="_data_files naming Arrow files in the folder"):
        read_table(folder)
