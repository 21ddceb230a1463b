"""The torch layer takes a sharded dataset folder wherever it takes a path: the same samples, batches and
(seed, epoch) orders as one file holding the same episodes, with workers, in mixtures, and resumed at another
number of ranks."""

from __future__ import annotations

import itertools
import multiprocessing

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import kinonb  # noqa: E402
from kinonb.interop.dataset import write_manifest  # noqa: E402
from kinonb.torch import KinoIterDataset, KinoMapDataset, Loader, from_mixture  # noqa: E402

WINDOWS = {"actions": range(4), "states": [-1, 0]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch_dataset")
    rng = np.random.default_rng(2)
    episodes = [dict(actions=rng.normal(size=(t, 3)).astype(np.float32), states=rng.normal(size=(t, 2)).astype(
        np.float32), task=f"t{e % 3}", success=e % 2 == 0, episode_id=e) for e, t in enumerate(rng.integers(2, 15, 30))]
    with kinonb.create(root / "one.knb") as w:
        for ep in episodes:
            w.add_episode(**ep)
    (root / "ds").mkdir()
    for k, (lo, hi) in enumerate([(0, 8), (8, 9), (9, 22), (22, 30)]):
        with kinonb.create(root / "ds" / f"shard-{k:05d}.knb") as w:
            for ep in episodes[lo:hi]:
                w.add_episode(**ep)
    write_manifest(root / "ds")
    return root / "one.knb", root / "ds"


def ids(items):
    """(episode_id, frame) of every sample of batches or samples."""
    out = []
    for b in items:
        e, f = torch.as_tensor(b["episode_id"]).reshape(-1), torch.as_tensor(b["frame"]).reshape(-1)
        out += list(zip(e.tolist(), f.tolist()))
    return out


def test_map_dataset_and_loader_read_a_dataset_as_the_file(files):
    one, ds = files
    a, b = KinoMapDataset(one, windows=WINDOWS), KinoMapDataset(ds, windows=WINDOWS, kql_filter="success = true")
    assert len(KinoMapDataset(ds, windows=WINDOWS)) == len(a)
    fa = KinoMapDataset(one, windows=WINDOWS, kql_filter="success = true")
    got, want = list(Loader(b, 16, seed=1, threads=2)), list(Loader(fa, 16, seed=1, threads=2))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert all(torch.equal(g[k], w[k]) if isinstance(w[k], torch.Tensor) else list(g[k]) == list(w[k])
                   for k in w)
    whole_a, whole_b = KinoMapDataset(one), KinoMapDataset(ds)
    assert torch.equal(whole_a[17]["action"], whole_b[17]["action"]) and whole_b[17]["episode_id"] == 17


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method")
def test_iterable_dataset_with_workers_gives_the_files_order(files):
    one, ds = files
    kw = dict(windows=WINDOWS, seed=5, batch_size=7)
    want = ids(KinoIterDataset(one, **kw))
    loader = DataLoader(KinoIterDataset(ds, **kw), batch_size=None, num_workers=2, multiprocessing_context="fork")
    assert ids(loader) == want
    mix = from_mixture({str(ds): 1.0, str(one): 1.0}, windows=WINDOWS, seed=3, num_samples=40, batch_size=8)
    assert sum(len(b["source"]) for b in mix) == 40


@pytest.mark.parametrize("saved,resumed", [(4, 2), (3, 5)])
def test_a_dataset_resumes_at_another_number_of_ranks(files, saved, resumed):
    """A run at ``saved`` ranks takes 2 batches per rank; ranks at ``resumed`` load its state: the two read,
    sample by sample and rank by rank (rank ``r`` of ``W`` reads every ``W``-th sample from ``r``), the sequence
    one process reads from the single file."""
    one, ds = files
    kw = dict(windows=WINDOWS, seed=8, batch_size=3, equalize="drop")
    sequence = ids(KinoIterDataset(one, **kw))
    head, state = [], None
    for rank in range(saved):
        part = KinoIterDataset(ds, rank=rank, world_size=saved, **kw)
        head.append(ids(itertools.islice(iter(part), 2)))
        state = part.state_dict()
    done = state["consumed_all_ranks"]
    assert [head[r][i] for i in range(6) for r in range(saved)] == sequence[:done]
    tail = []
    for rank in range(resumed):
        part = KinoIterDataset(ds, rank=rank, world_size=resumed, **kw)
        part.load_state_dict(state)
        tail.append(ids(part))
    steps = [tail[r][i] for i in range(min(map(len, tail))) for r in range(resumed)]
    assert steps == sequence[done: done + len(steps)]
    read = [x for part in head + tail for x in part]
    assert len(read) == len(set(read)) and len(sequence) - len(read) < resumed * 3


def test_the_loader_reads_shards_that_store_a_key_in_other_dtypes(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "ds").mkdir()
    for k, dtype in enumerate((np.float32, np.float64)):
        with kinonb.create(tmp_path / "ds" / f"shard-{k:05d}.knb") as w:
            for _ in range(3):
                w.add_episode(actions=rng.normal(size=(9, 2)).astype(dtype), states=rng.normal(size=(9, 2)))
    for dtype in (torch.float32, None):
        ds = KinoMapDataset(tmp_path / "ds", windows=WINDOWS, dtype=dtype)
        batches = list(Loader(ds, 8, seed=0, threads=2))
        assert sum(len(b["actions"]) for b in batches) == len(ds) == 54
        assert {b["actions"].dtype for b in batches} == {dtype or torch.float64}
