"""from_mixture / MixtureDataset: relative weights, per-source filters, with and without replacement, source names,
sources of different dims through pad_collate, rank splits and resume of mixtures."""

import itertools
import math
import multiprocessing
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import kinonb  # noqa: E402
from kinonb.sampling.mixture import schedule  # noqa: E402
from kinonb.torch import KinoIterDataset, MixtureDataset, from_mixture, pad_collate  # noqa: E402

HAS_FORK = "fork" in multiprocessing.get_all_start_methods()
WINDOWS = {"actions": range(2), "states": [0]}


def build(path, n_eps, t, action_dim, state_dim, seed, tasks=("a", "b")):
    rng = np.random.default_rng(seed)
    with kinonb.create(path) as w:
        for e in range(n_eps):
            w.add_episode(actions=rng.standard_normal((t, action_dim)).astype(np.float32),
                          states=rng.standard_normal((t, state_dim)).astype(np.float32),
                          task=tasks[e % len(tasks)], embodiment=path.stem, success=e % 2 == 0)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mix")
    return {
        "lift": build(d / "lift.knb", 6, 5, 3, 4, seed=1),    # 30 frames, actions 3-d, states 4-d
        "pusht": build(d / "pusht.knb", 4, 5, 2, 4, seed=2),  # 20 frames, actions 2-d
        "aloha": build(d / "aloha.knb", 10, 5, 7, 6, seed=3),  # 50 frames, actions 7-d, states 6-d
    }


def ident(batch):
    return list(zip(batch["source"], batch["episode"].tolist(), batch["frame"].tolist()))


def test_schedule_with_replacement_follows_weights_within_tolerance():
    sizes, weights = [30, 20, 400], [0.3, 0.4, 0.3]
    draws = np.concatenate([schedule(sizes, weights, seed=0, epoch=e, num_samples=5000) for e in range(4)])
    src = np.searchsorted([0, 30, 50], draws, side="right") - 1
    n = len(draws)
    for s, p in enumerate(np.array(weights) / sum(weights)):
        count = int((src == s).sum())
        assert abs(count - n * p) < 5 * math.sqrt(n * p * (1 - p)), (s, count, n * p)  # 5 sigma
    # within a source, every sample is drawn (uniformly) with replacement
    small = draws[src == 0]
    assert set(small.tolist()) == set(range(30))
    assert len(small) > 30  # so some repeat


def test_schedule_without_replacement_is_exact_and_never_repeats():
    sizes, weights = [30, 20, 400], [1, 2, 1]  # relative weights
    order = schedule(sizes, weights, seed=3, epoch=0, replacement=False)
    # pusht (p=1/2, 20 samples) runs out first: N = floor(20 / 0.5) = 40
    assert len(order) == 40 and len(set(order.tolist())) == 40
    src = np.searchsorted([0, 30, 50], order, side="right") - 1
    assert np.bincount(src, minlength=3).tolist() == [10, 20, 10]
    assert np.array_equal(order, schedule(sizes, [0.25, 0.5, 0.25], seed=3, epoch=0, replacement=False))
    assert not np.array_equal(order, schedule(sizes, weights, seed=3, epoch=1, replacement=False))
    assert len(schedule(sizes, weights, seed=3, epoch=0, replacement=False, num_samples=9)) == 9
    with pytest.raises(ValueError, match="run out"):
        schedule(sizes, weights, seed=3, epoch=0, replacement=False, num_samples=41)
    with pytest.raises(ValueError, match="no sample"):
        schedule([0, 5], [1, 1], seed=0, epoch=0)
    assert set(np.searchsorted([0, 30], schedule([30, 20], [1, 0], seed=0, epoch=0), side="right") - 1) == {0}


def test_mixture_dataset_proportions_sources_and_filters(files):
    mix = from_mixture({files["lift"]: 1, files["aloha"]: 3}, seed=42, windows=WINDOWS, batch_size=50,
                       num_samples=4000, kql_filters={files["aloha"]: "task = 'b'"})
    assert isinstance(mix, MixtureDataset)
    batches = list(DataLoader(mix, batch_size=None))
    sources = [s for b in batches for s in b["source"]]
    assert len(sources) == 4000
    n_aloha = sources.count(files["aloha"])
    assert abs(n_aloha - 3000) < 5 * math.sqrt(4000 * 0.75 * 0.25)
    for b in batches:
        for src, task in zip(b["source"], b["task"]):
            assert src != files["aloha"] or task == "b"  # the per-source filter
        assert set(b["task"]) <= {"a", "b"}


def test_different_dims_are_padded_with_masks_in_batches_and_by_pad_collate(files):
    paths = {files["lift"]: 1, files["pusht"]: 1, files["aloha"]: 1}
    mix = from_mixture(paths, seed=1, windows=WINDOWS, batch_size=32)
    assert mix.pad_dims == {"actions": 7, "states": 6}
    b = next(iter(mix))
    assert b["actions"].shape == (32, 2, 7) and b["actions_dim_mask"].shape == (32, 7)
    dims = {files["lift"]: (3, 4), files["pusht"]: (2, 4), files["aloha"]: (7, 6)}
    dbs = {p: kinonb.open(p) for p in paths}
    for i, (src, ep, frame) in enumerate(ident(b)):
        a, s = dims[src]
        assert b["actions_dim_mask"][i].tolist() == [True] * a + [False] * (7 - a)
        assert b["states_dim_mask"][i].tolist() == [True] * s + [False] * (6 - s)
        want = dbs[src].read_episode(ep)["actions"][frame: frame + 2]
        got = b["actions"][i, : len(want)]
        np.testing.assert_array_equal(got[:, :a].numpy(), want)
        assert not got[:, a:].any()
    # single samples keep their own dims; the mixture's collate pads them to the same widths
    samples = from_mixture(paths, seed=1, windows=WINDOWS)
    loader = DataLoader(samples, batch_size=32, collate_fn=samples.collate)
    c = next(iter(loader))
    assert ident(c) == ident(b)
    for k in ("actions", "actions_dim_mask", "states", "states_dim_mask", "actions_is_pad"):
        assert torch.equal(c[k], b[k]), k
    # pad_collate without widths pads to the widest sample of the batch
    lift_pusht = [s for s in itertools.islice(iter(samples), 64) if s["source"] != files["aloha"]][:8]
    d = pad_collate(lift_pusht)
    assert d["actions"].shape[-1] == max(dims[s["source"]][0] for s in lift_pusht)
    assert d["source"].tolist() == [s["source"] for s in lift_pusht]


def test_same_dims_need_no_mask_and_single_source_keys(files):
    alias = os.path.join(os.path.dirname(files["lift"]), ".", "lift.knb")  # the same file as a second source
    mix = from_mixture({files["lift"]: 2, alias: 1}, seed=0, windows={"states": [0]}, batch_size=8)
    assert len(mix.sources) == 2 and mix.pad_dims == {}
    b = next(iter(mix))
    assert "states_dim_mask" not in b and b["states"].shape == (8, 1, 4)
    single = next(iter(KinoIterDataset(files["lift"], windows={"states": [0]}, batch_size=8)))
    assert "source" not in single


@pytest.mark.parametrize("replacement", [True, False])
def test_mixture_ranks_split_the_schedule(files, replacement):
    paths = {files["lift"]: 0.5, files["pusht"]: 0.5}
    world = 3
    kw = dict(seed=5, windows=WINDOWS, replacement=replacement, equalize="drop", batch_size=4)
    whole = [x for b in from_mixture(paths, **kw) for x in ident(b)]
    per_rank = [[x for b in from_mixture(paths, rank=r, world_size=world, **kw) for x in ident(b)]
                for r in range(world)]
    assert len({len(r) for r in per_rank}) == 1
    # rank r holds every world-th entry of the (equalised) schedule
    cut = len(whole) - len(whole) % world
    for r in range(world):
        assert per_rank[r] == whole[:cut][r::world]
    if not replacement:
        flat = [x for r in per_rank for x in r]
        assert len(set(flat)) == len(flat)


def test_mixture_resume_and_kinodb_style_dict_argument(files):
    paths = {files["lift"]: 0.3, files["aloha"]: 0.7}
    want = [x for b in KinoIterDataset(paths, seed=8, windows=WINDOWS, batch_size=5) for x in ident(b)]
    first = from_mixture(paths, seed=8, windows=WINDOWS, batch_size=5)
    head = list(itertools.islice(iter(first), 3))
    fresh = from_mixture(paths, seed=8, windows=WINDOWS, batch_size=5)
    fresh.load_state_dict(first.state_dict())
    assert [x for b in head + list(fresh) for x in ident(b)] == want


def test_episode_mixture_with_pad_collate(files):
    mix = from_mixture({files["lift"]: 1, files["aloha"]: 1}, seed=2, actions_only=True)
    assert mix.pad_dims == {"action": 7, "state": 6}
    batch = next(iter(DataLoader(mix, batch_size=6, collate_fn=mix.collate)))  # every episode has 5 frames
    assert batch["action"].shape == (6, 5, 7) and batch["state"].shape == (6, 5, 6)
    for i, src in enumerate(batch["source"]):
        a = 3 if src == files["lift"] else 7
        assert batch["action_dim_mask"][i].sum() == a and not batch["action"][i, :, a:].any()
    assert batch["success"].dtype == torch.bool and batch["success_known"].dtype == torch.bool
    assert batch["task"].tolist()[0] in ("a", "b")
    with pytest.raises(ValueError, match="differ in more than"):
        pad_collate([{"action": torch.zeros(5, 3)}, {"action": torch.zeros(4, 3)}])


@pytest.mark.skipif(not HAS_FORK, reason="no fork start method")
def test_mixture_with_dataloader_workers(files):
    paths = {files["lift"]: 1, files["pusht"]: 1, files["aloha"]: 2}
    mix = from_mixture(paths, seed=3, windows=WINDOWS, batch_size=16)
    loader = DataLoader(mix, batch_size=None, num_workers=2, multiprocessing_context="fork")
    assert [x for b in loader for x in ident(b)] == [x for b in mix for x in ident(b)]


def test_bad_mixture_arguments(files):
    with pytest.raises(ValueError, match=">= 0"):
        from_mixture({files["lift"]: -1})
    with pytest.raises(ValueError, match="> 0"):
        from_mixture({files["lift"]: 0})
    with pytest.raises(ValueError, match="not sources"):
        from_mixture({files["lift"]: 1}, kql_filters={"other.knb": "task = 'a'"})
    with pytest.raises(ValueError, match="mixtures"):
        KinoIterDataset(files["lift"], num_samples=5)


@given(sizes=st.lists(st.integers(0, 60), min_size=1, max_size=4), data=st.data())
def test_schedule_without_replacement_respects_sizes(sizes, data):
    weights = data.draw(st.lists(st.floats(0.0, 10.0), min_size=len(sizes), max_size=len(sizes)))
    w = np.array(weights)
    if w.sum() <= 0 or any(n == 0 and x > 0 for n, x in zip(sizes, weights)):
        return
    order = schedule(sizes, weights, seed=0, epoch=0, replacement=False)
    assert len(set(order.tolist())) == len(order)  # no repeat
    src = np.searchsorted(np.concatenate([[0], np.cumsum(sizes)[:-1]]), order, side="right") - 1
    counts = np.bincount(src, minlength=len(sizes)) if len(order) else np.zeros(len(sizes), int)
    assert (counts <= np.array(sizes)).all()
    assert np.abs(counts - w / w.sum() * len(order)).max() < 1 + 1e-9  # largest remainders: within one


def test_kql_filters_as_a_list_in_source_order(files):
    mix = from_mixture({files["lift"]: 1, files["pusht"]: 1}, kql_filters=["task = 'a'", None], kql_filter="task = 'b'",
                       windows={"states": [0]}, batch_size=200, replacement=False)
    tasks = {src: set() for src in (files["lift"], files["pusht"])}
    for b in mix:
        for src, task in zip(b["source"], b["task"]):
            tasks[src].add(task)
    assert tasks == {files["lift"]: {"a"}, files["pusht"]: {"a", "b"}}
    with pytest.raises(ValueError, match="2 sources"):
        from_mixture({files["lift"]: 1, files["pusht"]: 1}, kql_filters=["task = 'a'"])
