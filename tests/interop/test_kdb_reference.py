"""kinonb reads the .kdb files kinodb wrote exactly as kinodb reads them back (datasets/kinodb_reference)."""

import json
import pickle
import shutil

import numpy as np
import pytest

from kinonb.errors import FormatError
from kinonb.interop import KdbDatabase
from kinonb.interop import kdb_layout as L

NAMES = [
    "create_test_small",
    "create_test_images_raw",
    "create_test_images_jpeg",
    "robomimic_lift_scripted",
    "pusht_images",
]
JPEG = {"create_test_images_jpeg"}
KINODB_META_KEYS = ["episode_id", "embodiment", "task", "num_frames", "fps", "action_dim", "success", "total_reward"]


@pytest.fixture(params=NAMES)
def ref(request, datasets_dir):
    base = datasets_dir / "kinodb_reference" / request.param
    if not base.with_suffix(".kdb").is_file():
        pytest.skip(f"{base}.kdb is absent")
    expected = json.loads(base.with_suffix(".expected.json").read_text())
    npz = np.load(base.with_suffix(".expected.npz"))
    return request.param, KdbDatabase(base.with_suffix(".kdb")), expected, npz


def assert_same_array(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()  # bitwise: also catches -0.0 / NaN payload differences


def test_file_level_values(ref):
    _, db, exp, _ = ref
    assert db.num_episodes() == len(db) == exp["num_episodes"] == exp["len"]
    assert db.num_frames() == exp["num_frames"]
    assert db.version() == exp["version"]
    assert db.summary() == exp["summary"]
    assert db.path().endswith(exp["file"])


def test_header_and_index_match_rust_reader(ref):
    _, db, exp, _ = ref
    want = exp["header_and_index_from_rust_KdbReader"]
    assert db.header() == want["header"]
    index = db.index()
    for i, entry in enumerate(want["index"]):
        assert {k: int(index[k][i]) for k in entry} == entry


def test_metadata(ref):
    _, db, exp, _ = ref
    for i, ep in enumerate(exp["episodes"]):
        meta = db.read_meta(i)
        assert {k: meta[k] for k in KINODB_META_KEYS} == ep["read_meta"]
        assert type(meta["success"]) is type(ep["read_meta"]["success"])
        assert meta["state_dim"] == ep["states_shape"][1]
        assert meta["cameras"] == [c["camera"] for c in ep["images"]]
        assert meta["columns"] == [] and meta["attrs"] == {}


def test_arrays_and_images(ref):
    name, db, exp, npz = ref
    diffs = []
    for i, ep_exp in enumerate(exp["episodes"]):
        ep = db.read_episode(i)
        assert ep["meta"] == db.read_meta(i)
        for key in ("actions", "states", "rewards", "is_terminal"):
            assert_same_array(ep[key], npz[f"ep{i}_{key}"])
        assert ep["is_terminal"].tolist() == ep_exp["is_terminal"]
        assert list(ep["images"]) == [c["camera"] for c in ep_exp["images"]]
        for cam in ep_exp["images"]:
            got, want = ep["images"][cam["camera"]], npz[f"ep{i}_img_{cam['camera']}"]
            assert list(got.shape) == cam["shape_THWC"]
            if name in JPEG:
                assert got.dtype == want.dtype and got.shape == want.shape
                diffs.append(np.abs(got.astype(np.int16) - want.astype(np.int16)).ravel())
            else:
                assert_same_array(got, want)
    if diffs:
        # README: Pillow (libjpeg-turbo) vs kinodb's zune-jpeg differ by at most 2 levels, mean 0.48.
        d = np.concatenate(diffs)
        assert d.max() <= 2 and d.mean() <= 0.5


def test_actions_only_matches_read_episode(ref):
    _, db, _, _ = ref
    for i in range(len(db)):
        full, lean = db.read_episode(i), db.read_episode_actions_only(i)
        assert "images" not in lean
        assert lean["meta"] == full["meta"]
        for key in ("actions", "states", "rewards", "is_terminal"):
            assert_same_array(lean[key], full[key])


def test_meta_columns(ref):
    _, db, _, _ = ref
    cols = db.meta_columns()
    metas = [db.read_meta(i) for i in range(len(db))]
    for key in ("episode_id", "num_frames", "action_dim", "state_dim"):
        assert cols[key].dtype == np.int64 and cols[key].tolist() == [m[key] for m in metas]
    assert cols["fps"].tolist() == [m["fps"] for m in metas]
    assert cols["success"].dtype == np.int8
    assert cols["success"].tolist() == [{None: 0, False: 1, True: 2}[m["success"]] for m in metas]  # kinonb.format.success
    assert cols["has_reward"].tolist() == [m["total_reward"] is not None for m in metas]
    rewards = [np.nan if m["total_reward"] is None else m["total_reward"] for m in metas]
    np.testing.assert_array_equal(cols["total_reward"], np.array(rewards))
    for key in ("task", "embodiment"):
        ids, distinct = cols[key]
        assert [distinct[k] for k in ids] == [m[key] for m in metas]
    assert set(cols["cameras"]) == {c for m in metas for c in m["cameras"]}
    for cam, has in cols["cameras"].items():
        assert has.tolist() == [cam in m["cameras"] for m in metas]


def test_bad_positions_raise_index_error(ref):
    _, db, _, _ = ref
    for method in (db.read_meta, db.read_episode, db.read_episode_actions_only):
        for bad in (len(db), -1, 10**12):
            with pytest.raises(IndexError):
                method(bad)


def test_pickle_reopens_by_path(ref):
    _, db, _, _ = ref
    blob = pickle.dumps(db)
    assert len(blob) < 1000  # the path, not the mapped bytes
    again = pickle.loads(blob)
    assert again.summary() == db.summary() and again.read_meta(0) == db.read_meta(0)


def test_actions_only_never_touches_image_bytes(ref, tmp_path):
    _, db, _, _ = ref
    copy = tmp_path / "broken_images.kdb"
    shutil.copyfile(db.path(), copy)
    index = db.index()
    data = bytearray(copy.read_bytes())
    for i, entry in enumerate(index):
        # Keep only what read_meta needs (frame 0's camera count and record heads, for meta["cameras"]);
        # garble frame 0's pixels and every later frame.
        off, end = int(entry["images_offset"]), int(entry["images_offset"] + entry["images_length"])
        heads = db._section.records(i, entry, max_frames=1)[0]
        for r in heads:
            data[r.data_offset : r.data_offset + r.data_len] = b"\xee" * r.data_len
        frame1 = heads[-1].data_offset + heads[-1].data_len if heads else off + 2
        data[frame1:end] = b"\xee" * (end - frame1)
    copy.write_bytes(bytes(data))
    broken = KdbDatabase(copy)
    for i in range(len(db)):
        lean = broken.read_episode_actions_only(i)
        assert_same_array(lean["actions"], db.read_episode_actions_only(i)["actions"])
    with pytest.raises(FormatError):  # while read_episode does parse the garbage, and says so
        broken.read_episode(0)


def test_layout_structs_match_spec_tables():
    assert L.HEADER_DTYPE.itemsize == 64 and L.INDEX_ENTRY_DTYPE.itemsize == 64
    header = {"magic": 0, "version_major": 4, "version_minor": 6, "num_episodes": 8, "num_frames": 16,
              "index_offset": 24, "index_length": 32, "created_timestamp": 40, "reserved": 48}
    assert {k: v[1] for k, v in L.HEADER_DTYPE.fields.items()} == header
    entry = {"episode_id": 0, "num_frames": 8, "action_dim": 12, "state_dim": 14, "actions_offset": 16,
             "actions_length": 24, "images_offset": 32, "images_length": 40, "meta_offset": 48, "meta_length": 56}
    assert {k: v[1] for k, v in L.INDEX_ENTRY_DTYPE.fields.items()} == entry
    frame = L.lowdim_frame_dtype(6, 7)
    assert frame.itemsize == 4 * (6 + 7) + 5
    assert {k: v[1] for k, v in frame.fields.items()} == {"state": 0, "action": 24, "reward": 52, "is_terminal": 56}
    assert L.lowdim_frame_dtype(0, 0).itemsize == 5
    assert L.IMAGE_RECORD_HEAD.size == 4 + 4 + 1 + 1 + 4
