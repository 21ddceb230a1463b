"""KinoMapDataset / KinoDataset: kinodb's episode samples, windowed frame samples, samplers, workers, pickling."""

import multiprocessing
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler  # noqa: E402

import kinonb  # noqa: E402
import kinonb.sampling.cameras  # noqa: E402
import kinonb.sampling.index  # noqa: E402
import kinonb.sampling.reads  # noqa: E402
from kinonb.torch import KinoDataset, KinoMapDataset, pad_collate  # noqa: E402

WINDOWS = {"actions": range(4), "states": range(-1, 1), "front": [0]}
HAS_FORK = "fork" in multiprocessing.get_all_start_methods()


def build(path, lengths=(7, 3, 9, 5, 6), compression="lz4", seed=0):
    """A small file: actions 3-d, states 2-d, rewards, cameras front 6x8x3 and wrist 4x4x1; returns the episodes."""
    rng = np.random.default_rng(seed)
    eps = []
    with kinonb.create(path, compression=compression) as w:
        for e, t in enumerate(lengths):
            ep = dict(actions=rng.standard_normal((t, 3)).astype(np.float32),
                      states=rng.standard_normal((t, 2)).astype(np.float32),
                      rewards=rng.standard_normal(t).astype(np.float32),
                      images={"front": rng.integers(0, 256, (t, 6, 8, 3), dtype=np.uint8),
                              "wrist": rng.integers(0, 256, (t, 4, 4, 1), dtype=np.uint8)},
                      task=f"task {e % 2}", embodiment="arm", success=[True, False, None][e % 3])
            w.add_episode(**ep, episode_id=100 + e)
            eps.append(ep)
    return eps


@pytest.fixture(scope="module")
def knb(tmp_path_factory):
    path = tmp_path_factory.mktemp("map") / "d.knb"
    return path, build(path)


def images_ref(frames, size):
    return kinonb.resize(frames, size, "nearest", layout="CHW", normalize=True)


# -- whole episodes (kinodb's mode) ------------------------------------------------------------------------------
def test_episode_mode_has_kinodb_keys_and_shapes(knb):
    path, eps = knb
    ds = KinoDataset(path, image_size=(3, 4))
    assert len(ds) == len(eps)
    for i, ep in enumerate(eps):
        s = ds[i]
        assert set(s) == {"action", "state", "reward", "image", "camera", "task", "embodiment", "success",
                          "episode_id"}
        t = len(ep["actions"])
        assert s["action"].dtype == torch.float32 and s["action"].shape == (t, 3)
        assert torch.equal(s["action"], torch.from_numpy(ep["actions"]))
        assert torch.equal(s["state"], torch.from_numpy(ep["states"]))
        assert torch.equal(s["reward"], torch.from_numpy(ep["rewards"]))
        assert s["camera"] == "front"  # image_key=None: the first camera
        assert s["image"].shape == (t, 3, 3, 4) and s["image"].dtype == torch.float32
        assert 0.0 <= float(s["image"].min()) and float(s["image"].max()) <= 1.0
        np.testing.assert_array_equal(s["image"].numpy(), images_ref(ep["images"]["front"], (3, 4)))
        meta = (s["task"], s["embodiment"], s["success"], s["episode_id"])
        assert meta == (ep["task"], "arm", ep["success"], 100 + i)


def test_episode_mode_image_key_full_size_and_numpy(knb):
    path, eps = knb
    s = KinoDataset(path, image_key="wrist", to_tensor=False)[2]
    assert isinstance(s["image"], np.ndarray) and s["camera"] == "wrist"
    want = eps[2]["images"]["wrist"].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(s["image"], want)
    with pytest.raises(KeyError, match="no camera 'side'"):
        KinoDataset(path, image_key="side")[0]


def test_episode_mode_actions_only_reads_no_image_byte(knb, monkeypatch):
    path, eps = knb

    def boom(*a, **k):
        raise AssertionError("an image was read")

    monkeypatch.setattr(kinonb.store.reader.Database, "frames", boom)
    monkeypatch.setattr(kinonb.store.reader.Database, "read_episode", boom)
    monkeypatch.setattr(kinonb.store.reader.Database, "_decode_camera", boom)
    ds = KinoDataset(path, actions_only=True)
    s = ds[1]
    assert "image" not in s and torch.equal(s["action"], torch.from_numpy(eps[1]["actions"]))


def test_episode_mode_kql_filter(knb):
    path, eps = knb
    ds = KinoDataset(path, kql_filter="task = 'task 1'", actions_only=True)
    assert [ds[i]["episode_id"] for i in range(len(ds))] == [101, 103]
    with pytest.raises(IndexError):
        ds[2]


def test_kdb_reference_file_matches_kinodb_conversion(datasets_dir):
    """kinodb's own sample conversion (nearest resize by integer index, /255, CHW) applied to what kinodb read."""
    ref = datasets_dir / "kinodb_reference"
    expected = np.load(ref / "create_test_images_raw.expected.npz")
    ds = KinoDataset(ref / "create_test_images_raw.kdb", kql_filter="success = true", image_size=(32, 16))
    positions = kinonb.open(ref / "create_test_images_raw.kdb").query("success = true")
    assert len(ds) == len(positions) > 0
    for i, p in enumerate(positions):
        s = ds[i]
        frames = expected[f"ep{p}_img_front"]
        rows = np.arange(32) * frames.shape[1] // 32
        cols = np.arange(16) * frames.shape[2] // 16
        want = frames[:, rows[:, None], cols[None, :], :].astype(np.float32) / 255.0
        np.testing.assert_array_equal(s["image"].numpy(), np.transpose(want, (0, 3, 1, 2)))
        np.testing.assert_array_equal(s["action"].numpy(), expected[f"ep{p}_actions"])
        np.testing.assert_array_equal(s["state"].numpy(), expected[f"ep{p}_states"])
        assert s["camera"] == "front" and s["success"] is True
    with pytest.raises(ValueError, match="windows need a .knb file"):
        len(KinoDataset(ref / "create_test_images_raw.kdb", windows={"actions": [0]}))


# -- windowed frame samples ----------------------------------------------------------------------------------
def test_window_samples_equal_index_read(knb):
    path, eps = knb
    ds = KinoMapDataset(path, windows=WINDOWS, image_size=(3, 4))
    index = kinonb.open(path).sample_index(WINDOWS)
    assert len(ds) == len(index) == sum(len(e["actions"]) for e in eps)
    ids = [0, 5, 7, len(ds) - 1, 3]
    want = index.read(ids, image_size=(3, 4), layout="CHW", normalize=True, mode="nearest")
    rows = ds.__getitems__(ids)
    batch = rows.batch
    for key in ("actions", "states", "front", "actions_is_pad", "states_is_pad", "front_is_pad", "episode", "frame"):
        np.testing.assert_array_equal(batch[key].numpy(), want[key], err_msg=key)
    assert batch["episode_id"].tolist() == [100 + e for e in want["episode"]]
    assert isinstance(batch["task"], np.ndarray)  # str array: the DataLoader passes it through untouched
    assert batch["task"].tolist() == [f"task {e % 2}" for e in want["episode"]]
    for j, i in enumerate(ids):
        one = ds[i]
        assert one["actions"].shape == (4, 3) and one["front"].shape == (1, 3, 3, 4)
        assert torch.equal(one["actions"], batch["actions"][j]) and one["task"] == batch["task"][j]
        assert int(one["frame"]) == want["frame"][j] and int(one["episode_id"]) == 100 + want["episode"][j]
    assert torch.equal(ds[-1]["actions"], ds[len(ds) - 1]["actions"])


def test_window_options_hwc_uint8_numpy_and_actions_only(knb, monkeypatch):
    path, _ = knb
    ds = KinoMapDataset(path, windows=WINDOWS, layout="HWC", normalize=False, to_tensor=False)
    b = ds.__getitems__([1, 2]).batch
    assert isinstance(b["front"], np.ndarray) and b["front"].dtype == np.uint8 and b["front"].shape == (2, 1, 6, 8, 3)
    monkeypatch.setattr(kinonb.sampling.cameras, "decode_camera_frames",
                        lambda *a, **k: pytest.fail("image bytes decoded"))
    ds = KinoMapDataset(path, windows=WINDOWS, actions_only=True)
    b = ds.__getitems__([1, 2]).batch
    assert "front" not in b and b["actions"].shape == (2, 4, 3)
    with pytest.raises(ValueError, match="image_key"):
        KinoMapDataset(path, windows=WINDOWS, image_key="front")
    with pytest.raises(ValueError, match="no key"):
        len(KinoMapDataset(path, windows={"front": [0]}, actions_only=True))


def test_default_collate_gets_the_batch_with_one_kernel_call_per_key(knb, monkeypatch):
    path, _ = knb
    calls = {"read": 0, "gather": 0}
    real_read, real_gather = kinonb.sampling.index.SampleIndex.read, kinonb.sampling.reads.gather_windows

    def read(self, *a, **k):
        calls["read"] += 1
        return real_read(self, *a, **k)

    def gather(*a, **k):
        calls["gather"] += 1
        return real_gather(*a, **k)

    monkeypatch.setattr(kinonb.sampling.index.SampleIndex, "read", read)
    monkeypatch.setattr(kinonb.sampling.reads, "gather_windows", gather)
    ds = KinoMapDataset(path, windows={"actions": range(4), "states": [0]})
    batches = list(DataLoader(ds, batch_size=8, shuffle=True))
    assert calls["read"] == len(batches) == -(-len(ds) // 8)
    assert calls["gather"] == 2 * len(batches)  # one compiled call per key per batch
    b = batches[0]
    assert b["actions"].shape == (8, 4, 3) and len(b["task"]) == 8
    seen = torch.cat([x["episode"] * 1000 + x["frame"] for x in batches]).sort().values
    want = torch.from_numpy(ds.sample_episodes * 1000 + ds.sample_frames).sort().values
    assert torch.equal(seen, want)  # RandomSampler: every sample once


def test_custom_collate_sees_ordinary_rows(knb):
    path, _ = knb
    ds = KinoMapDataset(path, windows={"actions": range(2)})
    rows = ds.__getitems__([3, 4])
    got = DataLoader(ds, batch_size=2, collate_fn=lambda rs: [dict(r) for r in rs])
    first = next(iter(got))
    assert isinstance(first, list) and set(first[0]) >= {"actions", "frame", "task"}
    assert torch.equal(rows[1]["actions"], ds[4]["actions"]) and list(rows[0:1])[0]["task"] == ds[3]["task"]


@pytest.mark.parametrize("world", [2, 3])
def test_distributed_sampler_disjoint_complete(knb, world):
    path, _ = knb
    ds = KinoMapDataset(path, windows={"actions": range(3)})
    seen = []
    for rank in range(world):
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=3, drop_last=False)
        sampler.set_epoch(1)
        ids = [int(e) * 1000 + int(f) for b in DataLoader(ds, batch_size=4, sampler=sampler)
               for e, f in zip(b["episode"], b["frame"])]
        assert len(ids) == -(-len(ds) // world)
        seen.append(ids)
    every = [i for ids in seen for i in ids]
    assert set(every) == set((ds.sample_episodes * 1000 + ds.sample_frames).tolist())
    assert len(every) - len(set(every)) == (-len(ds)) % world  # only DistributedSampler's own padding repeats


def test_weighted_random_sampler(knb):
    path, _ = knb
    ds = KinoMapDataset(path, windows={"actions": [0]})
    weights = (ds.sample_episodes == 2).astype(float)  # only episode 2
    sampler = WeightedRandomSampler(weights, num_samples=50, replacement=True,
                                    generator=torch.Generator().manual_seed(0))
    eps = torch.cat([b["episode"] for b in DataLoader(ds, batch_size=16, sampler=sampler)])
    assert len(eps) == 50 and set(eps.tolist()) == {2}


# -- processes ---------------------------------------------------------------------------------------------------
def test_pickle_holds_path_not_handle(knb):
    path, _ = knb
    ds = KinoMapDataset(path, windows=WINDOWS)
    assert len(ds) > 0  # opened in this process
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.source._state is None and ds.source._state is not None
    assert torch.equal(clone[3]["actions"], ds[3]["actions"])
    # a forked child finds a state opened by another process id and opens its own
    old = ds.source._state
    ds.source._state = old._replace(pid=-1)
    ds[0]
    assert ds.source._state.db is not old.db


def epoch_ids(loader):
    return sorted(int(e) * 1000 + int(f) for b in loader for e, f in zip(b["episode"], b["frame"]))


@pytest.mark.skipif(not HAS_FORK, reason="no fork start method")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_workers_fork(knb, num_workers):
    path, _ = knb
    ds = KinoMapDataset(path, windows=WINDOWS, image_size=(3, 4))
    assert len(ds) > 0  # the parent has opened the file before forking
    kw = dict(multiprocessing_context="fork", persistent_workers=True) if num_workers else {}
    loader = DataLoader(ds, batch_size=5, shuffle=True, num_workers=num_workers, **kw)
    want = sorted((ds.sample_episodes * 1000 + ds.sample_frames).tolist())
    for _ in range(2):  # a second epoch reuses persistent workers
        assert epoch_ids(loader) == want


def test_dataloader_spawn_persistent_episode_and_window_modes(knb):
    path, eps = knb
    ds = KinoMapDataset(path, windows={"actions": range(2), "front": [0]}, image_size=(2, 2))
    loader = DataLoader(ds, batch_size=7, num_workers=2, multiprocessing_context="spawn", persistent_workers=True)
    want = sorted((ds.sample_episodes * 1000 + ds.sample_frames).tolist())
    assert epoch_ids(loader) == want and epoch_ids(loader) == want
    episodes = KinoDataset(path, image_size=(3, 4))
    got = list(DataLoader(episodes, batch_size=1, num_workers=2, multiprocessing_context="spawn",
                          collate_fn=pad_collate))  # success may be None: a value plus success_known
    assert [int(b["episode_id"]) for b in got] == [100 + i for i in range(len(eps))]
    assert [b["success"].tolist() for b in got] == [[bool(e["success"])] for e in eps]
    assert [b["success_known"].tolist() for b in got] == [[e["success"] is not None] for e in eps]
    np.testing.assert_array_equal(got[1]["image"][0].numpy(), images_ref(eps[1]["images"]["front"], (3, 4)))
