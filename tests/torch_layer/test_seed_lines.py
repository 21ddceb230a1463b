"""The kinodb seed's own DataLoader lines run unchanged, with the default collate and no collate_fn.

Whole episodes differ in length and ``success`` may be unknown; mixtures of robots differ in action/state width;
an iterable dataset may already yield batches; a filter may select nothing. Each case either batches, or says
what to change, in a kinonb error.
"""

from __future__ import annotations

import numpy as np
import pytest

import kinonb
from kinonb.interop import write_kdb

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from kinonb.torch import KinoDataset, KinoIterDataset, from_mixture  # noqa: E402

LENGTHS = [60, 45, 80, 52, 70, 38, 90, 55, 61, 49]


def episode(t: int, a: int, s: int, success, rng) -> dict:
    return {"actions": rng.standard_normal((t, a)).astype(np.float32),
            "states": rng.standard_normal((t, s)).astype(np.float32),
            "rewards": rng.standard_normal(t).astype(np.float32), "is_terminal": np.arange(t) == t - 1,
            "images": {"front": rng.integers(0, 256, (t, 12, 16, 3), dtype=np.uint8)},
            "meta": {"embodiment": "panda", "task": f"task {t}", "fps": 10.0, "success": success,
                     "total_reward": 1.0}}


@pytest.fixture(scope="module")
def data_kdb(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("seed") / "data.kdb"
    successes = [True, None, False, True, None, True, True, False, None, True]
    write_kdb(path, [episode(t, 7, 9, ok, rng) for t, ok in zip(LENGTHS, successes)])
    return path


def test_seed_map_dataset_line(data_kdb):
    loader = DataLoader(KinoDataset(str(data_kdb), kql_filter="success = true", image_key="front",
                                    image_size=(224, 224), to_tensor=True), batch_size=8, shuffle=True)
    db = kinonb.open(data_kdb)
    selected = db.query("success = true")
    seen = []
    for batch in loader:
        lengths = [db.read_meta(p)["num_frames"] for p in _positions(db, batch["episode_id"])]
        t_max = max(lengths)
        assert batch["action"].shape == (len(lengths), t_max, 7)
        assert batch["image"].shape == (len(lengths), t_max, 3, 224, 224)
        assert batch["action_is_pad"].tolist() == [[f >= n for f in range(t_max)] for n in lengths]
        for i, (p, n) in enumerate(zip(_positions(db, batch["episode_id"]), lengths)):
            ep = db.read_episode(p)
            np.testing.assert_array_equal(batch["action"][i, :n].numpy(), ep["actions"])
            assert (batch["action"][i, n:] == batch["action"][i, n - 1]).all()  # the last frame, repeated
        assert batch["success"].all() and batch["success_known"].all()
        seen += batch["episode_id"].tolist()
    assert sorted(seen) == sorted(db.read_meta(p)["episode_id"] for p in selected)


def _positions(db, episode_ids) -> list:
    ids = [db.read_meta(p)["episode_id"] for p in range(len(db))]
    return [ids.index(int(e)) for e in episode_ids]


def test_unknown_success_batches_with_the_default_collate(data_kdb):
    for batch_size in (1, 4):
        batches = list(DataLoader(KinoDataset(str(data_kdb), actions_only=True), batch_size=batch_size))
        success = torch.cat([b["success"] for b in batches]).tolist()
        known = torch.cat([b["success_known"] for b in batches]).tolist()
        want = [kinonb.open(data_kdb).read_meta(p)["success"] for p in range(len(LENGTHS))]
        assert known == [w is not None for w in want] and success == [bool(w) for w in want]


def test_seed_iterable_dataset_line(data_kdb):
    loader = DataLoader(KinoIterDataset(str(data_kdb), kql_filter="num_frames > 50", shuffle=True, seed=42),
                        batch_size=4)
    batches = list(loader)
    want = sorted(n for n in LENGTHS if n > 50)
    got = sorted(int(n) for b in batches for n in (~b["action_is_pad"]).sum(1))
    assert got == want
    assert all(b["image"].shape[-3:] == (3, 12, 16) for b in batches)


@pytest.fixture(scope="module")
def two_robots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("robots")
    rng = np.random.default_rng(1)
    paths = {}
    for name, (a, s) in {"arm": (7, 9), "gripper": (3, 4)}.items():
        paths[name] = folder / f"{name}.knb"
        with kinonb.create(paths[name]) as w:
            for t in (20, 25, 30):
                w.add_episode(actions=rng.standard_normal((t, a)).astype(np.float32),
                              states=rng.standard_normal((t, s)).astype(np.float32), task=name)
    return paths


@pytest.mark.parametrize("windows", [None, {"actions": range(4), "states": [0]}], ids=["episodes", "windows"])
def test_mixture_of_widths_batches_without_collate_fn(two_robots, windows):
    mix = from_mixture({str(two_robots["arm"]): 1, str(two_robots["gripper"]): 1}, seed=0, windows=windows,
                       num_samples=24)
    key = "action" if windows is None else "actions"
    for batch in DataLoader(mix, batch_size=6):
        assert batch[key].shape[-1] == 7 and batch[f"{key}_dim_mask"].shape[-1] == 7
        real = batch[f"{key}_dim_mask"].sum(1).tolist()
        assert real == [7 if s.endswith("arm.knb") else 3 for s in batch["source"]]
        for i, width in enumerate(real):
            assert not batch[key][i, ..., width:].any()


def test_batches_from_the_dataset_are_not_batched_again(two_robots):
    ds = KinoIterDataset(str(two_robots["arm"]), windows={"actions": range(4)}, batch_size=8)
    assert next(iter(DataLoader(ds, batch_size=None)))["actions"].shape == (8, 4, 7)
    with pytest.raises(ValueError, match=r"batch_size=None"):
        next(iter(DataLoader(ds, batch_size=8)))


def test_empty_selection_names_the_filter_and_the_file(two_robots):
    path = str(two_robots["arm"])
    with pytest.raises(kinonb.errors.EmptyDatasetError, match=r"num_frames > 1000.*3 episodes") as caught:
        KinoDataset(path, kql_filter="num_frames > 1000")
    assert path in str(caught.value)
    with pytest.raises(kinonb.errors.EmptyDatasetError, match="windows"):
        KinoIterDataset(path, windows={"actions": range(100)}, pad="none")
