"""kinonb.torch.Loader: the same batches as direct reads in the (seed, epoch) order, for any thread count;
resume, ranks, buffer reuse that never overwrites a batch the loop still holds, cameras, any map dataset."""

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import Dataset  # noqa: E402

import kinonb  # noqa: E402
from kinonb.sampling import order  # noqa: E402
from kinonb.torch import KinoIterDataset, KinoMapDataset, Loader  # noqa: E402
from kinonb.torch import loader as loader_module  # noqa: E402

LOW_DIM = {"actions": range(4), "states": range(-1, 1)}


@pytest.fixture(scope="module")
def knb(tmp_path_factory):
    path = tmp_path_factory.mktemp("loader") / "d.knb"
    rng = np.random.default_rng(0)
    lengths = [int(t) for t in rng.integers(3, 40, 60)]
    with kinonb.create(path) as w:
        for e, t in enumerate(lengths):
            w.add_episode(actions=rng.standard_normal((t, 3)).astype(np.float32),
                          states=rng.standard_normal((t, 2)).astype(np.float32),
                          images={"front": rng.integers(0, 256, (t, 4, 6, 3), dtype=np.uint8)},
                          task=f"task {e % 3}")
    return path


def expected(ds, batch_size, seed, epoch=0, shuffle=True, rank=0, world_size=1, drop_last=False):
    stream = order.rank_stream(order.permutation(len(ds), seed, epoch, shuffle), rank, world_size, "wrap")
    if drop_last:
        stream = stream[: len(stream) - len(stream) % batch_size]
    return [ds.__getitems__(stream[i: i + batch_size].tolist()).batch for i in range(0, len(stream), batch_size)]


def assert_batches_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert set(g) == set(w)
        for k in w:
            if isinstance(w[k], torch.Tensor):
                assert torch.equal(g[k], w[k]), k
            else:
                assert list(g[k]) == list(w[k]), k


@pytest.mark.parametrize("threads", [0, 1, 3])
@pytest.mark.parametrize("batch_size", [1, 7, 64, 5000])
def test_batches_match_direct_reads_in_order(knb, threads, batch_size):
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    got = [{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in b.items()}
           for b in Loader(ds, batch_size, seed=5, threads=threads)]
    assert_batches_equal(got, expected(ds, batch_size, 5))


def test_kept_batches_are_never_overwritten(knb, monkeypatch):
    """Buffers are reused only once the loop dropped every view: a loop that keeps all batches sees each intact."""
    monkeypatch.setattr(loader_module, "LOW_DIM_ROWS", 16)  # many small reads, so slots come round again
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    for threads in (0, 2):
        kept = list(Loader(ds, 8, seed=1, threads=threads, prefetch=2))
        assert_batches_equal(kept, expected(ds, 8, 1))


def test_buffers_are_reused_when_dropped(knb, monkeypatch):
    monkeypatch.setattr(loader_module, "LOW_DIM_ROWS", 16)
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    pointers = {b["actions"].untyped_storage().data_ptr() for b in Loader(ds, 8, seed=1, threads=0)}
    assert len(pointers) <= 4  # a few slots in rotation, not one allocation per read


def test_epochs_shuffle_drop_last_and_len(knb):
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    loader = Loader(ds, 10, seed=3, drop_last=True, threads=2)
    loader.set_epoch(4)
    got = list(loader)
    assert len(got) == len(loader) == len(ds) // 10
    assert_batches_equal(got, expected(ds, 10, 3, epoch=4, drop_last=True))
    again = list(loader)  # the same epoch replays the same order
    assert_batches_equal(again, got)
    plain = list(Loader(ds, 10, shuffle=False, threads=1))
    assert torch.equal(torch.cat([b["frame"] for b in plain]), torch.as_tensor(ds.sample_frames))


def test_ranks_split_the_epoch(knb):
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    for rank in range(3):
        got = list(Loader(ds, 9, seed=2, rank=rank, world_size=3, threads=1))
        assert_batches_equal(got, expected(ds, 9, 2, rank=rank, world_size=3))


def test_resume_mid_epoch_continues_at_the_next_batch(knb):
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    full = [dict(b) for b in Loader(ds, 6, seed=9, threads=2)]
    first = Loader(ds, 6, seed=9, threads=2)
    first.set_epoch(0)
    it = iter(first)
    for _ in range(5):
        next(it)
    state = first.state_dict()
    it.close()
    assert state["samples_consumed"] == 30
    second = Loader(ds, 6, seed=9, threads=1)
    second.load_state_dict(state)
    assert_batches_equal(list(second), full[5:])
    assert_batches_equal(list(second), full)  # the pass after the resumed one is whole
    with pytest.raises(kinonb.InvalidArgumentError, match="seed"):
        Loader(ds, 6, seed=10).load_state_dict(state)
    with pytest.raises(kinonb.InvalidArgumentError, match="not a"):
        second.load_state_dict({"epoch": 0})


@pytest.mark.parametrize("saved,resumed", [(4, 2), (2, 3)])
def test_state_saved_at_4_ranks_resumes_at_2(knb, saved, resumed):
    """Every rank of a run at ``saved`` ranks takes 2 batches; ranks at ``resumed`` load rank 0's state and read
    on: step by step, rank by rank, the two runs read the epoch's order, nothing twice but the wrapped few."""
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    ids = order.permutation(len(ds), 3, 0).tolist()
    sample = {}  # (episode, frame) -> sample id
    index = kinonb.open(knb).sample_index(LOW_DIM)
    for i, (e, f) in enumerate(zip(index.sample_episodes.tolist(), index.sample_frames.tolist())):
        sample[e, f] = i

    def ident(batch):
        return [sample[e, f] for e, f in zip(batch["episode"].tolist(), batch["frame"].tolist())]

    head, states = [], []
    for rank in range(saved):
        loader = Loader(ds, 5, seed=3, threads=1, rank=rank, world_size=saved)
        it = iter(loader)
        head.append([i for _ in range(2) for i in ident(next(it))])
        states.append(loader.state_dict())
        it.close()
    assert {s["consumed_all_ranks"] for s in states} == {10 * saved}
    tail = []
    for rank in range(resumed):
        loader = Loader(ds, 5, seed=3, threads=1, rank=rank, world_size=resumed)
        loader.load_state_dict(states[0])
        tail.append([i for b in loader for i in ident(b)])
    n, done = len(ids), 10 * saved
    assert [head[r][i] for i in range(10) for r in range(saved)] == ids[:done]
    steps = [tail[r][i] for i in range(min(map(len, tail))) for r in range(resumed)]
    assert steps[: n - done] == ids[done:][: len(steps)]
    read = [i for part in (head, tail) for stream in part for i in stream]
    assert set(read) == set(ids) and len(read) - n < resumed


def test_break_stops_the_threads(knb):
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    before = threading.active_count()
    for batch in Loader(ds, 4, threads=3, prefetch=8):
        break
    assert threading.active_count() == before


def test_errors_reach_the_loop_at_their_batch(knb, monkeypatch):
    ds = KinoMapDataset(knb, windows=LOW_DIM)
    calls = []

    def failing(ids, out=None):
        calls.append(len(ids))
        if len(calls) == 2:
            raise OSError("disk gone")
        return real(ids, out)

    real = ds.source.read
    monkeypatch.setattr(ds.source, "read", failing)
    monkeypatch.setattr(loader_module, "LOW_DIM_ROWS", 8)
    it = iter(Loader(ds, 8, threads=2))
    next(it)
    with pytest.raises(OSError, match="disk gone"):
        next(it)


def test_cameras_and_episode_mode(knb):
    ds = KinoMapDataset(knb, windows={"actions": range(2), "front": [0]}, image_size=(2, 3))
    got = list(Loader(ds, 16, seed=0, threads=2))
    assert got[0]["front"].shape == (16, 1, 3, 2, 3)
    assert_batches_equal(got, expected(ds, 16, 0))
    episodes = KinoMapDataset(knb, image_size=(2, 2))
    batches = list(Loader(episodes, 4, seed=0, threads=2))
    assert sum(len(b["episode_id"]) for b in batches) == len(episodes)
    assert batches[0]["action_is_pad"].dtype == torch.bool


def test_any_map_dataset_and_refusals(knb):
    class Squares(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {"x": torch.tensor([i * i])}

    got = torch.cat([b["x"] for b in Loader(Squares(), 3, shuffle=False, threads=2)])
    assert got.flatten().tolist() == [i * i for i in range(10)]
    with pytest.raises(kinonb.ArgumentTypeError, match="iterable"):
        Loader(KinoIterDataset(knb, windows=LOW_DIM, batch_size=4), 4)
    with pytest.raises(kinonb.InvalidArgumentError):
        Loader(Squares(), 0)
    with pytest.warns(kinonb.KinonbWarning, match="pin_memory"):
        if not torch.cuda.is_available():
            Loader(Squares(), 2, pin_memory=True)
        else:  # pragma: no cover (a machine with a GPU pins)
            import warnings

            warnings.warn("pin_memory", kinonb.KinonbWarning)


@pytest.mark.parametrize("inband", [True, False])
def test_shared_batch_pickles_as_one_block(monkeypatch, inband):
    import io
    import pickle

    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401  (registers the tensor reductions)

    from kinonb.torch import shared_batch
    from kinonb.torch.shared_batch import SharedBatch

    monkeypatch.setattr(shared_batch, "INBAND_BYTES", 1 << 20 if inband else 0)
    batch = SharedBatch(a=torch.arange(7, dtype=torch.float32).reshape(7, 1), b=torch.ones(3, 2, dtype=torch.bool),
                        c=torch.arange(5)[::2], task=np.array(["x", "y"], dtype=object), empty=torch.zeros(0, 4),
                        n=3)
    buf = io.BytesIO()
    ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(batch)
    back = pickle.loads(buf.getvalue())
    assert type(back) is dict and list(back) == list(batch)
    for key in ("a", "b", "c", "empty"):
        assert back[key].dtype == batch[key].dtype and torch.equal(back[key], batch[key])
    storages = {back[k].untyped_storage().data_ptr() for k in ("a", "b", "c")}
    assert len(storages) == 1
    assert back["a"].is_shared() is not inband  # in-band: inside the pickle; else one shared segment
    back["a"][0] = 5  # writable, as a shared segment is
    assert list(back["task"]) == ["x", "y"] and back["n"] == 3
