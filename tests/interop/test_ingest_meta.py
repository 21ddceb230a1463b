"""task / embodiment / fps on ingest: taken from the source where it has them (HDF5 data attrs, zarr group attrs),
the options override them, and the report says, a line per field, where each came from or that it was left
empty and how to set it (``report.notes``, which ``kinonb ingest --json`` prints)."""

import json

import numpy as np
import pytest

import kinonb
from kinonb.interop.ingest import ingest, write_ingest
from kinonb.store.report import Report

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")

FIELDS = ("task", "embodiment", "fps")
HOW = {"task": "--task", "embodiment": "--embodiment", "fps": "--fps"}


def meta_lines(report) -> dict:
    """{field: the report's one line about it}; fails unless there is exactly one per field."""
    out = {}
    for field in FIELDS:
        lines = [n for n in report.notes if n.startswith((f"{field} from ", f"{field} left empty"))]
        assert len(lines) == 1, (field, report.notes)
        out[field] = lines[0]
    return out


def metas(path):
    db = kinonb.open(path)
    return {(m["task"], m["embodiment"], m["fps"]) for m in map(db.read_meta, range(len(db)))}


def write_hdf5(path, attrs=None, raw_demo=False, n=2):
    """A robomimic file (obs/) or a robosuite raw demo file (states only) with ``attrs`` on the data group
    (dicts are stored as JSON, as robomimic / robosuite do)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        for k, v in (attrs or {}).items():
            data.attrs[k] = json.dumps(v) if isinstance(v, dict) else v
        for k in range(n):
            g = data.create_group(f"demo_{k}")
            g.create_dataset("actions", data=rng.normal(size=(4, 3)).astype(np.float32))
            if raw_demo:
                g.create_dataset("states", data=rng.normal(size=(4, 5)))
            else:
                g.create_group("obs").create_dataset("pos", data=rng.normal(size=(4, 2)).astype(np.float32))
    return path


def write_zarr(path, root_attrs=None, data_attrs=None, ends=(3, 7)):
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    data, meta = root.create_group("data"), root.create_group("meta")
    data.create_array("action", shape=(ends[-1], 2), dtype="f4")[...] = np.arange(ends[-1] * 2).reshape(-1, 2)
    meta.create_array("episode_ends", shape=(len(ends),), dtype="i8")[...] = np.array(ends)
    root.attrs.update(root_attrs or {})
    data.attrs.update(data_attrs or {})
    return path


# ---- HDF5 -------------------------------------------------------------------------------------------------


def test_hdf5_without_metadata_lists_each_field_left_empty(tmp_path):
    src = write_hdf5(tmp_path / "bare.hdf5")
    report = ingest(src, tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("", "", 0.0)}
    lines = meta_lines(report)
    for field in FIELDS:
        assert lines[field].startswith(f"{field} left empty") and HOW[field] in lines[field] \
            and f"{field}=" in lines[field], lines[field]
    assert "data.attrs" in lines["task"] and "env_args.env_name" in lines["task"]  # where it looked
    assert lines["fps"].startswith("fps left empty (0: unknown)")
    assert report.as_dict()["notes"] == report.notes  # what `kinonb ingest --json` prints


def test_hdf5_robomimic_env_args_give_all_three_and_say_where(tmp_path):
    src = write_hdf5(tmp_path / "r.hdf5", {"env_args": {"env_name": "Lift", "type": 1, "env_kwargs": {
        "robots": ["Panda"], "control_freq": 20}}})
    report = ingest(src, tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("Lift", "Panda", 20.0)}
    assert meta_lines(report) == {"task": "task from data.attrs env_args.env_name: 'Lift'",
                                  "embodiment": "embodiment from data.attrs env_args.env_kwargs.robots: 'Panda'",
                                  "fps": "fps from data.attrs env_args.env_kwargs.control_freq: 20"}


def test_hdf5_overrides_win_and_the_report_says_what_they_replaced(tmp_path):
    src = write_hdf5(tmp_path / "r.hdf5", {"env_args": {"env_name": "Lift", "env_kwargs": {"robots": "Panda"}}})
    report = ingest(src, tmp_path / "o.knb", task="lift the cube", fps=15)
    assert metas(tmp_path / "o.knb") == {("lift the cube", "Panda", 15.0)}
    lines = meta_lines(report)
    assert lines["task"] == ("task from the override (task= / --task): 'lift the cube'; the source's 'Lift' "
                             "(data.attrs env_args.env_name) not used")
    assert lines["fps"] == "fps from the override (fps= / --fps): 15"
    assert lines["embodiment"] == "embodiment from data.attrs env_args.env_kwargs.robots: 'Panda'"
    report = ingest(src, tmp_path / "p.knb", embodiment="franka", task="lift", fps=20)
    assert metas(tmp_path / "p.knb") == {("lift", "franka", 20.0)}
    assert not any("left empty" in n for n in report.notes)


def test_hdf5_libero_env_name_and_problem_info(tmp_path):
    """LIBERO writes env_name as a plain attribute and the instruction in problem_info (a word list is joined)."""
    src = write_hdf5(tmp_path / "l.hdf5", {"env_name": "Libero_Kitchen_Tabletop_Manipulation",
                                           "env_args": {"env_kwargs": {"robots": ["Panda"], "control_freq": 20}}})
    ingest(src, tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("Libero_Kitchen_Tabletop_Manipulation", "Panda", 20.0)}
    with h5py.File(src, "a") as f:
        f["data"].attrs["problem_info"] = json.dumps({"language_instruction": ["open", "the", "drawer"]})
    report = ingest(src, tmp_path / "p.knb")
    assert metas(tmp_path / "p.knb") == {("open the drawer", "Panda", 20.0)}
    assert meta_lines(report)["task"] == "task from data.attrs problem_info.language_instruction: 'open the drawer'"


def test_hdf5_robosuite_raw_demos(tmp_path):
    """robosuite 1.x: env_info names the env and robots but no control frequency; 0.x: only the env name, which
    begins with the robot."""
    src = write_hdf5(tmp_path / "v1.hdf5", {"env": "TwoArmLift", "repository_version": "1.4.0", "env_info": {
        "env_name": "TwoArmLift", "robots": ["Panda", "Sawyer"]}}, raw_demo=True)
    report = ingest(src, tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("TwoArmLift", "Panda+Sawyer", 0.0)}
    lines = meta_lines(report)
    assert lines["embodiment"] == "embodiment from data.attrs env_info.robots: 'Panda+Sawyer'"
    assert lines["fps"].startswith("fps left empty (0: unknown): none in data.attrs env_args.env_kwargs.control_freq"
                                   " / env_info.control_freq; set it with --fps")
    src = write_hdf5(tmp_path / "v0.hdf5", {"env": "SawyerPickPlace", "repository_version": "0.1.0"}, raw_demo=True)
    report = ingest(src, tmp_path / "p.knb", fps=100)
    assert metas(tmp_path / "p.knb") == {("SawyerPickPlace", "Sawyer", 100.0)}
    assert "robosuite 0.x env name begins with its robot" in meta_lines(report)["embodiment"]
    src = write_hdf5(tmp_path / "other.hdf5", {"env": "Lift"}, raw_demo=True)  # no robot prefix: nothing guessed
    ingest(src, tmp_path / "q.knb")
    assert metas(tmp_path / "q.knb") == {("Lift", "", 0.0)}


def test_hdf5_unusable_values_are_noted_and_not_used(tmp_path):
    src = write_hdf5(tmp_path / "b.hdf5", {"env_args": {"env_name": "Lift", "env_kwargs": {
        "robots": [], "control_freq": "fast"}}, "env_info": {"control_freq": 10}})
    report = ingest(src, tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("Lift", "", 10.0)}  # the next place that has a usable fps
    assert "fps: env_args.env_kwargs.control_freq = 'fast' is not a usable fps; not used" in report.notes
    assert meta_lines(report)["fps"] == "fps from data.attrs env_info.control_freq: 10"
    assert meta_lines(report)["embodiment"].startswith("embodiment left empty")


# ---- zarr -------------------------------------------------------------------------------------------------


def test_zarr_without_attrs_lists_each_field_left_empty(tmp_path):
    report = ingest(write_zarr(tmp_path / "b.zarr"), tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("", "", 0.0)}
    lines = meta_lines(report)
    for field in FIELDS:
        assert lines[field].startswith(f"{field} left empty") and HOW[field] in lines[field], lines[field]
    assert "the root, data/ and meta/ attrs" in lines["fps"]
    assert not kinonb.open(tmp_path / "o.knb").read_meta(0)["attrs"]  # no attrs: nothing to keep


def test_zarr_group_attrs_give_the_values(tmp_path):
    src = write_zarr(tmp_path / "a.zarr", root_attrs={"task": "push the T block", "fps": 10, "note": "v7"},
                     data_attrs={"robot_type": "pusht_sim", "task": "not this one (the root comes first)"})
    report = ingest(src, tmp_path / "o.knb")
    assert metas(tmp_path / "o.knb") == {("push the T block", "pusht_sim", 10.0)}
    assert meta_lines(report) == {"task": "task from the root attrs['task']: 'push the T block'",
                                  "embodiment": "embodiment from data/ attrs['robot_type']: 'pusht_sim'",
                                  "fps": "fps from the root attrs['fps']: 10"}
    attrs = kinonb.open(tmp_path / "o.knb").read_meta(1)["attrs"]
    assert attrs["zarr_attrs"]["/"] == {"task": "push the T block", "fps": 10, "note": "v7"}  # nothing dropped
    assert attrs["zarr_attrs"]["data"]["robot_type"] == "pusht_sim"


def test_zarr_overrides_win(tmp_path):
    src = write_zarr(tmp_path / "a.zarr", root_attrs={"task": "push", "embodiment": "sim", "fps": 10})
    report = ingest(src, tmp_path / "o.knb", task="push the T", embodiment="pusht", fps=5)
    assert metas(tmp_path / "o.knb") == {("push the T", "pusht", 5.0)}
    assert meta_lines(report)["fps"] == ("fps from the override (fps= / --fps): 5; the source's 10 "
                                         "(the root attrs['fps']) not used")
    report = ingest(write_zarr(tmp_path / "b.zarr"), tmp_path / "p.knb", task="t", embodiment="e", fps=10)
    assert metas(tmp_path / "p.knb") == {("t", "e", 10.0)} and not any("left empty" in n for n in report.notes)


# ---- the shared helper (every format's write step) ---------------------------------------------------------


def test_write_ingest_counts_partly_empty_fields_and_empty_overrides(tmp_path):
    def episodes():
        for i, task in enumerate(["pour", "", "stir", "pour"]):
            yield {"actions": np.zeros((2, 1), np.float32), "task": task, "embodiment": "arm", "fps": 0.0,
                   "episode_id": i}

    report = write_ingest(tmp_path / "o.knb", episodes(), Report("ingest"), embodiment="",
                          meta_from={"task": "the tasks file"})
    lines = meta_lines(report)
    assert lines["task"] == ("task left empty in 1 of 4 episodes: none in the tasks file; set it with --task TEXT "
                             "(CLI) or task= (Python)")
    assert lines["embodiment"].startswith("embodiment left empty: the override is empty; set it with --embodiment")
    assert lines["fps"].startswith("fps left empty (0: unknown): none in the source")
    report = write_ingest(tmp_path / "p.knb", episodes(), Report("ingest"), task="mix", fps=30)
    assert meta_lines(report)["task"] == ("task from the override (task= / --task): 'mix'; the source's 2 values: "
                                          "'pour', 'stir' (the source) not used")


def test_merge_gets_no_meta_lines(tmp_path):
    """Merge copies files whose metadata is whatever it is: the ingest-only lines stay out of its report."""
    from kinonb.ops.merge import merge

    ingest(write_hdf5(tmp_path / "bare.hdf5"), tmp_path / "a.knb")
    report = merge([tmp_path / "a.knb", tmp_path / "a.knb"], tmp_path / "m.knb")
    assert report.episodes == 4 and not any(n.startswith(FIELDS) for n in report.notes)


# ---- the real datasets --------------------------------------------------------------------------------------

REAL = {  # source -> (task, embodiment, fps) that the files themselves give
    "robomimic_hdf5_robocore_scripted/lift_ph/low_dim.hdf5": ("", "", 0.0),  # data attrs: num_demos, total only
    "robomimic_hdf5_robocore_scripted/maniskill_pickcube_v1/low_dim.hdf5": ("", "", 0.0),
    "robosuite_demo_hdf5/v0.3.0/BaxterLift/demo.hdf5": ("BaxterLift", "Baxter", 0.0),
    "robosuite_demo_hdf5/v0.3.0/SawyerNutAssembly/demo.hdf5": ("SawyerNutAssembly", "Sawyer", 0.0),
    "robosuite_demo_hdf5/v1.0.1/wipe/demo.hdf5": ("Wipe", "Panda", 0.0),  # env_info has no control_freq
    "robosuite_demo_hdf5/v1.4.1/lift/demo.hdf5": ("Lift", "Panda", 0.0),
    "robosuite_demo_hdf5/v1.4.1/handover_panda_panda/demo.hdf5": ("TwoArmHandover", "Panda+Panda", 20.0),
    "diffusion_policy_pusht_cchi_v7_replay/pusht_cchi_v7_replay.zarr": ("", "", 0.0),  # ReplayBuffer: no attrs
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_sources_give_what_they_hold_and_list_the_rest(datasets_dir, tmp_path, name):
    src = datasets_dir / name
    if not src.exists():
        pytest.skip(f"{src} is absent")
    report = ingest(src, tmp_path / "o.knb", max_episodes=1)
    want = REAL[name]
    assert metas(tmp_path / "o.knb") == {want}
    lines = meta_lines(report)
    for field, value in zip(FIELDS, want):
        assert lines[field].startswith(f"{field} from " if value else f"{field} left empty"), lines[field]
    report = ingest(src, tmp_path / "p.knb", max_episodes=1, task="t", embodiment="e", fps=12.5)
    assert metas(tmp_path / "p.knb") == {("t", "e", 12.5)} and not any("left empty" in n for n in report.notes)
