"""Sharded datasets (kinonb/interop/dataset/): a folder of shards reads exactly as one file holding the same
episodes in the same order (episodes, metadata, KQL, window samples), for any split into shards; the manifest
pins commits and is checked as untrusted input; remote prefixes read through range requests."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb
from kinonb.errors import CorruptFieldError, FormatError, InvalidArgumentError
from kinonb.interop.dataset import MANIFEST_NAME, ShardedDatabase, open_dataset, write_manifest

N = 14
WINDOWS = {"actions": range(-1, 3), "states": [0], "front": [0, 1]}
LOW_DIM = {"actions": [2, 0, -3], "states": range(2), "rewards": [0]}  # plain keys: one compiled call per key
QUERIES = ["success = true", "task CONTAINS '2'", "attrs.operator = 'bob'", "num_frames > 12",
           "embodiment = 'ur5' AND success = false"]


def episode(rng, i: int, width: int = 3) -> dict:
    t = 6 + (i * 5) % 11
    return dict(actions=rng.normal(size=(t, width)).astype(np.float32), states=rng.normal(size=(t, 2)),
                rewards=rng.random(t).astype(np.float32), is_terminal=np.arange(t) == t - 1,
                images={"front": rng.integers(0, 255, (t, 6, 8, 3), dtype=np.uint8)},
                task=f"task {i % 4}", embodiment=["franka", "ur5"][i % 2], success=i % 3 == 0,
                attrs={"operator": ["alice", "bob", "carol"][i % 3]}, fps=10.0, episode_id=i)


EPISODES = [episode(np.random.default_rng(i), i) for i in range(N)]


def write(path, episodes, compression="lz4"):
    with kinonb.create(path, compression=compression) as w:
        for e in episodes:
            w.add_episode(**e)
    return path


def write_dataset(folder, episodes, cuts, manifest=True):
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0, *cuts, len(episodes)]
    for k in range(len(bounds) - 1):
        write(folder / f"shard-{k:05d}.knb", episodes[bounds[k]: bounds[k + 1]])
    if manifest:
        write_manifest(folder)
    return folder


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    one = write(root / "one.knb", EPISODES)
    return kinonb.open(one), kinonb.open(write_dataset(root / "ds", EPISODES, [3, 4, 9]))


def assert_same_batch(a: dict, b: dict):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def assert_same_episode(a: dict, b: dict):
    assert a["meta"] == b["meta"]
    for k in ("actions", "states", "rewards", "is_terminal"):
        assert np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype
    assert np.array_equal(a["images"]["front"], b["images"]["front"])


def test_a_dataset_reads_as_one_file(pair):
    one, ds = pair
    assert isinstance(ds, ShardedDatabase) and len(ds.shards) == 4
    assert (len(ds), ds.num_frames(), ds.column_names(), ds.camera_names()) == \
        (len(one), one.num_frames(), one.column_names(), one.camera_names())
    for i in list(range(N)) + [-1, -N]:
        assert_same_episode(ds.read_episode(i), one.read_episode(i))
        assert ds.read_meta(i) == one.read_meta(i)
    assert np.array_equal(ds.frames(5, "front", 1, 4), one.frames(5, "front", 1, 4))
    assert np.array_equal(ds.episode_lengths(), one.episode_lengths())
    assert np.array_equal(ds.episode_lengths([9, 2, 3]), one.episode_lengths([9, 2, 3]))
    for q in QUERIES:
        assert ds.query(q) == one.query(q), q
    with pytest.raises(IndexError):
        ds.read_episode(N)
    assert "shards:   4" in ds.summary()
    assert ds.stream_names() == one.stream_names() and len(ds.shard_commits) == 4 and ds.commit_seq is None


@pytest.mark.parametrize("windows", [WINDOWS, LOW_DIM])
@pytest.mark.parametrize("options", [{}, {"pad": "none"}, {"episodes": [1, 2, 3, 4, 10, 11]}, {"missing": "skip"}])
def test_window_samples_match_the_single_file(pair, options, windows):
    one, ds = pair
    a, b = one.sample_index(windows, **options), ds.sample_index(windows, **options)
    assert len(a) == len(b)
    assert np.array_equal(a.sample_episodes, b.sample_episodes)
    assert np.array_equal(a.sample_frames, b.sample_frames)
    ids = np.random.default_rng(0).permutation(len(a))
    for chunk in (ids[:1], ids[:50], ids, np.zeros(0, np.int64)):
        assert_same_batch(a.read(chunk, image_size=(4, 4)), b.read(chunk, image_size=(4, 4)))
    assert_same_batch(a.read(ids[:9], keys=["actions"]), b.read(ids[:9], keys=["actions"]))
    out = {"actions": np.empty((9, len(windows["actions"]), 3), np.float32)}
    assert b.read(ids[:9], out=out)["actions"] is out["actions"]  # the caller's array, filled
    assert np.array_equal(out["actions"], a.read(ids[:9])["actions"])
    assert a.locate(len(a) - 1) == b.locate(len(b) - 1)
    with pytest.raises(IndexError):
        b.read([len(b)])
    with pytest.raises(InvalidArgumentError, match="not a key"):
        b.read([0], keys=["nope"])


def test_widths_that_differ_between_shards_pad_as_in_one_file(tmp_path):
    rng = np.random.default_rng(3)
    mixed = [episode(rng, i, width=3 if i < 5 else 5) for i in range(9)]
    one = kinonb.open(write(tmp_path / "one.knb", mixed))
    ds = kinonb.open(write_dataset(tmp_path / "ds", mixed, [5]))  # shard 0 all width 3, shard 1 all width 5
    w = {"actions": range(2)}
    a, b = one.sample_index(w), ds.sample_index(w)
    assert b.keys["actions"].padded
    for ids in (np.arange(len(a)), np.arange(3), np.arange(len(a) - 3, len(a))):  # shard 0 alone is padded too
        assert_same_batch(a.read(ids), b.read(ids))
    assert_same_batch(one.sample_index(w, pad_dims={"actions": 7}).read(np.arange(9)),
                      ds.sample_index(w, pad_dims={"actions": 7}).read(np.arange(9)))
    with pytest.raises(InvalidArgumentError, match="pad_dims=False"):
        ds.sample_index(w, pad_dims=False)


@given(cuts=st.lists(st.integers(1, N - 1), max_size=5, unique=True).map(sorted),
       ids=st.lists(st.integers(0, 10**6), max_size=40))
def test_any_split_into_shards_reads_the_same(tmp_path_factory, pair, cuts, ids):
    one, _ = pair
    ds = kinonb.open(write_dataset(tmp_path_factory.mktemp("split"), EPISODES, cuts))
    for windows in (WINDOWS, LOW_DIM):
        a, b = one.sample_index(windows), ds.sample_index(windows)
        picked = np.array(ids, np.int64) % len(a)
        assert_same_batch(a.read(picked), b.read(picked))
    assert ds.query("success = true") == one.query("success = true")


def test_the_manifest_pins_each_shard_at_its_commit(tmp_path):
    folder = write_dataset(tmp_path / "ds", EPISODES, [7])
    with kinonb.append(folder / "shard-00001.knb") as w:  # a shard grows after the manifest
        w.add_episode(**dict(EPISODES[0], episode_id=1000))
    assert len(kinonb.open(folder)) == N  # still the manifest's commits
    write_manifest(folder)
    assert len(kinonb.open(folder)) == N + 1
    (folder / MANIFEST_NAME).unlink()
    assert len(open_dataset(folder)) == N + 1  # no manifest: the folder's .knb files at their newest commits
    with pytest.raises(InvalidArgumentError, match="commit"):
        kinonb.open(folder, commit=1)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format="other/1"), "format"),
    (lambda m: m["shards"][0].update(path="../one.knb"), "relative .knb path"),
    (lambda m: m["shards"][0].update(path="/etc/x.knb"), "relative .knb path"),
    (lambda m: m["shards"][1].update(path=m["shards"][0]["path"]), "once"),
    (lambda m: m["shards"][0].update(episodes=99), "99 episodes"),
    (lambda m: m["shards"][0].update(frames=-1), "int >= 0"),
    (lambda m: m["shards"][0].update(commit="2"), "int >= 0"),
    (lambda m: m.update(shards=[]), "non-empty"),
])
def test_a_bad_manifest_is_refused_naming_what_is_wrong(tmp_path, edit, match):
    folder = write_dataset(tmp_path / "ds", EPISODES, [7])
    doc = json.loads((folder / MANIFEST_NAME).read_text())
    edit(doc)
    (folder / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=match) as e:
        kinonb.open(folder)
    assert MANIFEST_NAME in str(e.value)


def test_unparsable_and_empty_datasets(tmp_path):
    (tmp_path / "ds").mkdir()
    with pytest.raises(InvalidArgumentError, match="not a kinonb dataset"):
        kinonb.open(tmp_path / "ds")
    (tmp_path / "ds" / MANIFEST_NAME).write_bytes(b"\xff{")
    with pytest.raises(FormatError, match="JSON"):
        kinonb.open(tmp_path / "ds")
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "missing")


def test_a_dataset_pickles_and_reopens(pair):
    _, ds = pair
    again = pickle.loads(pickle.dumps(ds))
    assert again.shard_paths == ds.shard_paths and again.query("success = true") == ds.query("success = true")


def test_a_remote_prefix_reads_as_the_local_dataset(pair, tmp_path):
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    from kinonb.testing.range_server import RangeServer

    one, _ = pair
    write_dataset(tmp_path / "ds", EPISODES, [3, 4, 9])
    with RangeServer(tmp_path) as server:
        remote = kinonb.open(server.url("ds/"), cache_bytes=8 << 20)
        assert len(remote.shards) == 4 and len(remote) == N
        assert remote.query("success = true") == one.query("success = true")
        assert_same_episode(remote.read_episode(6), one.read_episode(6))
        ids = np.arange(0, len(one.sample_index(WINDOWS)), 7)
        assert_same_batch(remote.sample_index(WINDOWS).read(ids), one.sample_index(WINDOWS).read(ids))
        torch = pytest.importorskip("torch")
        from kinonb.torch import KinoMapDataset

        train = KinoMapDataset(server.url("ds/"), windows={"actions": range(2)}, storage_options={"headers": {}})
        want = KinoMapDataset(tmp_path / "ds", windows={"actions": range(2)})
        assert torch.equal(train.__getitems__(list(range(9))).batch["actions"],
                           want.__getitems__(list(range(9))).batch["actions"])
        with pytest.raises(InvalidArgumentError, match="storage_options"):
            KinoMapDataset(tmp_path / "ds", windows={"actions": [0]}, storage_options={"headers": {}})
        with kinonb.append(tmp_path / "ds" / "shard-00002.knb") as w:  # the shard moves past its manifest
            w.add_episode(**dict(EPISODES[0], episode_id=1000))
        with pytest.raises(CorruptFieldError, match="changed since the manifest"):
            kinonb.open(server.url("ds/" + MANIFEST_NAME))


def test_a_key_stored_in_other_dtypes_by_two_shards_reads_as_the_wider(tmp_path):
    rng = np.random.default_rng(5)
    eps = [episode(rng, i) for i in range(6)]
    for e in eps[3:]:
        e["actions"] = e["actions"].astype(np.float64)  # shard 1 keeps float64 actions, shard 0 float32
    ds = kinonb.open(write_dataset(tmp_path / "ds", eps, [3]))
    index = ds.sample_index(LOW_DIM)
    assert index.keys["actions"].column.dtype == np.float64
    ids = np.arange(len(index))
    got = index.read(ids)
    assert got["actions"].dtype == np.float64
    parts = [kinonb.open(tmp_path / "ds" / f"shard-0000{k}.knb").sample_index(LOW_DIM) for k in (0, 1)]
    want = np.concatenate([p.read(np.arange(len(p)))["actions"].astype(np.float64) for p in parts])
    assert np.array_equal(got["actions"], want)
    out = {"actions": np.empty_like(got["actions"])}
    assert index.read(ids, out=out)["actions"] is out["actions"] and np.array_equal(out["actions"], want)


def test_a_prefix_in_an_fsspec_store_opens_with_its_trailing_slash(pair, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    one, _ = pair
    folder = write_dataset(tmp_path / "ds", EPISODES, [5])
    fs = fsspec.filesystem("memory")
    for p in folder.iterdir():
        fs.pipe(f"/kinonb-test-{tmp_path.name}/ds/{p.name}", p.read_bytes())
    url = f"memory://kinonb-test-{tmp_path.name}/ds"
    ds = kinonb.open(url + "/")
    assert len(ds) == N and ds.query(QUERIES[0]) == one.query(QUERIES[0])
    assert ds.stream_names() == one.stream_names() and ds.shard_commits == kinonb.open(folder).shard_commits
    assert_same_episode(ds.read_episode(9), one.read_episode(9))
    with pytest.raises(InvalidArgumentError, match="trailing '/'"):
        kinonb.open(url)
