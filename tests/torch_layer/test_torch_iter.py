"""KinoIterDataset: (seed, epoch) orders, disjoint complete splits over ranks and workers, in-worker batches,
equal per-rank counts, exact mid-epoch resume, persistent workers (fork and spawn)."""

import itertools
import multiprocessing

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import kinonb  # noqa: E402
from kinonb.torch import KinoIterDataset, sharding  # noqa: E402

HAS_FORK = "fork" in multiprocessing.get_all_start_methods()
WINDOWS = {"actions": range(3), "states": [-1, 0]}


@pytest.fixture(scope="module")
def knb(tmp_path_factory):
    """23 episodes of 1..9 frames (131 frame samples), actions 2-d, states 1-d."""
    path = tmp_path_factory.mktemp("iter") / "d.knb"
    rng = np.random.default_rng(1)
    with kinonb.create(path) as w:
        for e in range(23):
            t = 1 + e % 9
            w.add_episode(actions=rng.standard_normal((t, 2)).astype(np.float32),
                          states=rng.standard_normal((t, 1)).astype(np.float32), task=f"t{e % 3}", success=e % 2 == 0)
    return path


def make(path, **kw):
    kw.setdefault("windows", WINDOWS)
    return KinoIterDataset(path, **kw)


def key(batch_or_sample):
    """Sample identities (episode * 1000 + frame) of a batch or a single sample, as a list."""
    e, f = batch_or_sample["episode"], batch_or_sample["frame"]
    return (torch.as_tensor(e).reshape(-1) * 1000 + torch.as_tensor(f).reshape(-1)).tolist()


def keys(items):
    return [k for item in items for k in key(item)]


def run_workers(ds, num_workers, monkeypatch):
    """What each simulated DataLoader worker of this rank yields, in order."""
    out = []
    for w in range(num_workers):
        monkeypatch.setattr(sharding, "worker", lambda w=w: (w, num_workers))
        out.append(list(ds))
    monkeypatch.undo()
    return out


def all_samples(path):
    index = kinonb.open(path).sample_index(WINDOWS)
    return sorted((index.sample_episodes * 1000 + index.sample_frames).tolist())


def test_order_is_a_function_of_seed_and_epoch(knb):
    a, b = make(knb, seed=7, batch_size=8), make(knb, seed=7, batch_size=8)
    a.set_epoch(2)
    b.set_epoch(2)
    assert keys(a) == keys(b)
    b.set_epoch(3)
    assert keys(a) != keys(b)
    assert keys(a) == keys(a)  # iterating again without set_epoch replays the epoch
    assert keys(make(knb, seed=8, batch_size=8)) != keys(make(knb, seed=7, batch_size=8))
    plain = keys(make(knb, shuffle=False))
    assert plain == all_samples(knb)


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("equalize", ["drop", "wrap"])
@pytest.mark.parametrize("batch_size,workers", [(None, 1), (None, 3), (8, 2), (5, 3)])
def test_ranks_and_workers_split_disjoint_and_complete(knb, monkeypatch, world, equalize, batch_size, workers):
    every = all_samples(knb)
    n = len(every)
    per_rank = []
    for rank in range(world):
        ds = make(knb, seed=3, batch_size=batch_size, rank=rank, world_size=world, equalize=equalize)
        ds.set_epoch(5)
        got = [keys(items) for items in run_workers(ds, workers, monkeypatch)]
        flat = [k for g in got for k in g]
        assert len(flat) == ds.num_samples_per_rank()
        per_rank.append(flat)
    counts = {len(r) for r in per_rank}
    assert len(counts) == 1  # equal per-rank counts: no rank waits on another
    union = [k for r in per_rank for k in r]
    if equalize == "drop":
        assert len(union) == n - n % world and len(set(union)) == len(union)  # disjoint
        assert set(union) <= set(every)
    else:
        assert set(union) == set(every)  # complete
        assert len(union) == n + (-n) % world and len(union) - len(set(union)) == (-n) % world


@pytest.mark.parametrize("batch_size", [None, 6])
def test_worker_split_keeps_rank_stream_order(knb, monkeypatch, batch_size):
    """Round-robin blocks: collecting workers one block at a time in turn gives the single-process order."""
    ds = make(knb, seed=11, batch_size=batch_size, block_size=4)
    whole = keys(ds)
    per_worker = run_workers(ds, 3, monkeypatch)
    block = batch_size or 4
    blocks = [[keys(per_worker[w][i:i + (1 if batch_size else block)]) for i in
               range(0, len(per_worker[w]), 1 if batch_size else block)] for w in range(3)]
    interleaved, r = [], 0
    while any(blocks):
        if blocks[r % 3]:
            interleaved += blocks[r % 3].pop(0)
        r += 1
    assert interleaved == whole


@pytest.mark.skipif(not HAS_FORK, reason="no fork start method")
def test_real_dataloader_workers_fork_equal_single_process(knb):
    ds = make(knb, seed=2, batch_size=7)
    want = keys(ds)
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork", persistent_workers=True)
    for epoch in range(2):
        ds.set_epoch(epoch)
        ref = make(knb, seed=2, batch_size=7)
        ref.set_epoch(epoch)
        got = list(loader)
        assert keys(got) == keys(ref)  # set_epoch reaches persistent workers
        assert all(len(key(b)) == 7 for b in got[:-1])
    assert keys(ref) != want
    samples = make(knb, seed=2, block_size=4)
    loader = DataLoader(samples, batch_size=4, num_workers=2, multiprocessing_context="fork")
    assert keys(loader) == keys(samples)


def test_batches_are_assembled_by_the_reader(knb):
    ds = make(knb, seed=0, batch_size=16, drop_last=True)
    batches = list(DataLoader(ds, batch_size=None))
    assert len(batches) == len(ds) == len(all_samples(knb)) // 16
    b = batches[0]
    assert b["actions"].shape == (16, 3, 2) and b["actions_is_pad"].shape == (16, 3)
    assert b["states"].shape == (16, 2, 1) and len(b["task"]) == 16 and b["episode_id"].dtype == torch.int64
    index = kinonb.open(knb).sample_index(WINDOWS)
    lookup = {k: i for i, k in enumerate((index.sample_episodes * 1000 + index.sample_frames).tolist())}
    want = index.read([lookup[k] for k in key(b)])
    np.testing.assert_array_equal(b["actions"].numpy(), want["actions"])
    np.testing.assert_array_equal(b["states_is_pad"].numpy(), want["states_is_pad"])


def consume(ds, loader_kw, steps):
    """Take ``steps`` items from a fresh pass; return them."""
    return list(itertools.islice(DataLoader(ds, **loader_kw), steps))


@pytest.mark.parametrize("batch_size,stop", [(None, 0), (None, 17), (5, 3), (5, 14), (8, 2)])
@pytest.mark.parametrize("world", [1, 3])
def test_resume_mid_epoch_equals_uninterrupted_epoch(knb, batch_size, stop, world):
    for rank in range(world):
        kw = dict(seed=4, batch_size=batch_size, rank=rank, world_size=world)
        full = make(knb, **kw)
        full.set_epoch(1)
        want = keys(full)
        first = make(knb, **kw)
        first.set_epoch(1)
        loader_kw = dict(batch_size=None) if batch_size else dict(batch_size=1)
        head = consume(first, loader_kw, stop)
        state = first.state_dict()  # counted in-process (num_workers=0)
        fresh = make(knb, **kw)
        fresh.load_state_dict(state)
        fresh.set_epoch(1)  # the restored epoch: the position is kept
        tail = list(DataLoader(fresh, **loader_kw))
        assert keys(head) + keys(tail) == want
        assert fresh.state_dict()["samples_consumed"] == len(want)


@pytest.mark.skipif(not HAS_FORK, reason="no fork start method")
@pytest.mark.parametrize("batch_size,stop", [(None, 13), (6, 4)])
def test_resume_with_workers_from_samples_consumed(knb, batch_size, stop):
    kw = dict(seed=9, batch_size=batch_size, block_size=2)
    loader_kw = dict(num_workers=2, multiprocessing_context="fork",
                     batch_size=None if batch_size else 2)
    want = keys(make(knb, **kw))
    first = make(knb, **kw)
    head = consume(first, loader_kw, stop)
    state = first.state_dict(samples_consumed=len(keys(head)))
    fresh = make(knb, **kw)
    fresh.load_state_dict(state)
    tail = consume(fresh, loader_kw, 10**6)
    assert keys(head) + keys(tail) == want
    # twice resumed: a second save counts from where the restored pass began
    again = make(knb, **kw)
    again.load_state_dict(fresh.state_dict(samples_consumed=4))
    assert keys(head) + keys(tail)[:4] + keys(again) == want


def test_set_epoch_and_state_validation(knb):
    ds = make(knb, seed=1, batch_size=4)
    state = ds.state_dict(samples_consumed=8)
    ds.set_epoch(2)
    assert ds.state_dict()["samples_consumed"] == 0  # a new epoch starts at 0
    other = make(knb, seed=2, batch_size=4)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)
    make(knb, seed=1, rank=0, world_size=2).load_state_dict(state)  # another world size: see the test below
    with pytest.raises(ValueError, match="samples in epoch"):
        KinoIterDataset(knb, windows={"actions": [0]}, kql_filter="task = 't0'", seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="runs past"):
        ds.state_dict(samples_consumed=10**6)
    with pytest.raises(ValueError, match="not a"):
        ds.load_state_dict({"epoch": 0})


def _rank_streams(knb, world, state=None, *, steps=None, **kw):
    """What each of ``world`` ranks reads, each restored from ``state`` first; with ``steps``, only that many
    items per rank, and each rank's state after them."""
    taken, states = [], []
    for rank in range(world):
        ds = make(knb, rank=rank, world_size=world, **kw)
        if state is not None:
            ds.load_state_dict(state)
        items = list(itertools.islice(iter(ds), steps)) if steps is not None else list(ds)
        taken.append(keys(items))
        states.append(ds.state_dict())
    return taken, states


@pytest.mark.parametrize("saved,resumed", [(4, 2), (2, 4), (3, 2), (4, 1), (2, 2)])
@pytest.mark.parametrize("batch_size,equalize", [(None, "drop"), (4, "drop"), (None, "wrap")])
def test_state_saved_at_one_world_size_resumes_at_another(knb, saved, resumed, batch_size, equalize):
    """The ranks of a run at ``saved`` ranks stop after 3 items each; a run at ``resumed`` ranks loads rank 0's
    state: together the two runs read every sample of the epoch's order once (the wrapped repeats aside), and
    the global sequence (step by step, rank by rank) is the epoch's order."""
    kw = dict(seed=11, batch_size=batch_size, equalize=equalize)
    ref = make(knb, seed=11)
    order_ids = ref._order(0).tolist()
    ident = dict(zip(keys(ref), order_ids))  # sample key -> its id; ref (1 rank) reads the order as it is
    n = len(order_ids)
    head, states = _rank_streams(knb, saved, steps=3, **kw)
    assert len({s["consumed_all_ranks"] for s in states}) == 1  # lockstep: every rank's state says the same
    consumed = states[0]["consumed_all_ranks"]
    assert consumed == 3 * (batch_size or 1) * saved
    tail, _ = _rank_streams(knb, resumed, states[0], **kw)
    # step by step, rank by rank, the two runs read the epoch's order
    steps = [ident[head[r][i]] for i in range(len(head[0])) for r in range(saved)]
    assert steps == order_ids[:consumed]
    steps = [ident[tail[r][i]] for i in range(min(map(len, tail))) for r in range(resumed)]
    assert steps[: n - consumed] == order_ids[consumed: consumed + len(steps)][: n - consumed]
    read = [ident[k] for part in (head, tail) for stream in part for k in stream]
    if equalize == "drop":
        assert len(read) == len(set(read))  # nothing twice
        assert len(set(order_ids) - set(read)) < resumed  # only the remainder the resumed ranks drop
    else:
        assert set(read) == set(order_ids)  # every sample, the few wrapped ones twice
        assert len(read) - n < resumed


def test_rank_from_arguments_environment_and_torch_distributed(knb, monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert (make(knb).rank, make(knb).world_size) == (1, 2)
    assert make(knb, rank=0, world_size=3).rank == 0
    monkeypatch.delenv("RANK")
    with pytest.raises(ValueError, match="both"):
        make(knb, rank=1)
    with pytest.raises(ValueError, match="rank must lie"):
        make(knb, rank=3, world_size=3)
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        ds = make(knb)
        assert (ds.rank, ds.world_size) == (0, 1)
        with pytest.raises(ValueError, match="contradict"):
            make(knb, rank=1, world_size=2)
    finally:
        dist.destroy_process_group()


def test_episode_mode_yields_kinodb_samples(knb):
    ds = KinoIterDataset(knb, kql_filter="success = true", seed=5)
    got = list(ds)
    assert len(got) == len(kinonb.open(knb).query("success = true")) == len(ds)
    assert {"action", "state", "task", "embodiment", "success", "episode_id"} <= set(got[0])
    assert all(s["success"] is True for s in got)
    assert sorted(s["episode_id"] for s in got) == [e for e in range(23) if e % 2 == 0]
    with pytest.raises(ValueError, match="needs windows"):
        KinoIterDataset(knb, batch_size=4)


def test_spawn_persistent_workers_follow_set_epoch_and_restore(knb):
    ds = make(knb, seed=6, batch_size=9)
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="spawn", persistent_workers=True)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        ref = make(knb, seed=6, batch_size=9)
        ref.set_epoch(epoch)
        assert keys(loader) == keys(ref)
    ds.load_state_dict(ref.state_dict(samples_consumed=27))
    assert keys(loader) == keys(ref)[27:]  # the restored position reaches the persistent workers


@given(n=st.integers(0, 300), world=st.integers(1, 5), workers=st.integers(1, 4), block=st.integers(1, 9),
       start=st.integers(0, 80), policy=st.sampled_from(sharding.EQUALIZE), seed=st.integers(0, 2**32))
def test_sharding_partitions_every_epoch(n, world, workers, block, start, policy, seed):
    """Ranks split the equalised order; workers' blocks partition a rank stream from any start; the round-robin
    of blocks is the rank stream itself."""
    order = sharding.permutation(n, seed, 1)
    assert sorted(order.tolist()) == list(range(n))
    streams = [sharding.rank_stream(order, r, world, policy) for r in range(world)]
    assert len({len(s) for s in streams}) == 1
    merged = np.empty(sum(len(s) for s in streams), np.int64)
    for r, s in enumerate(streams):
        merged[r::world] = s
    cut = n - n % world if policy == "drop" else n
    assert merged[:cut].tolist() == order[:cut].tolist()
    assert set(merged.tolist()) == set(order[:cut].tolist())
    stream = streams[0]
    begin = min(start, len(stream))
    parts = [sharding.worker_positions(len(stream), begin, block, w, workers) for w in range(workers)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(begin, len(stream)))
    chunks = [[p[i:i + block] for i in range(0, len(p), block)] for p in parts]
    rr = [c for k in range(max((len(c) for c in chunks), default=0)) for c in (w[k] for w in chunks if k < len(w))]
    assert np.concatenate(rr or [np.zeros(0, np.int64)]).tolist() == list(range(begin, len(stream)))
