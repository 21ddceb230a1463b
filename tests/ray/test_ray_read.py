"""kinonb.ray.read_knb: episode rows, window rows, filters, column restriction, files and dataset folders,
size estimates, byte-locality read tasks, and a behaviour-cloning loop over iter_torch_batches."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

import kinonb
from kinonb.errors import EmptyDatasetError, InvalidArgumentError, MissingExtraError

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from kinonb.interop.dataset.manifest import write_manifest  # noqa: E402
from kinonb.ray import knb_datasource, read_knb  # noqa: E402
from kinonb.ray.rows import row_nbytes  # noqa: E402

WINDOWS = {"actions": range(4), "states": [0]}
LENGTHS = (9, 5, 12, 7, 6, 10)


@pytest.fixture(scope="module")
def ray_session():
    try:
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    except Exception as e:  # noqa: BLE001 - no Ray runtime here (sandbox, no shared memory): skip, not fail
        pytest.skip(f"ray.init failed: {e}")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def write(path, lengths=LENGTHS, seed=0, camera=True):
    rng = np.random.default_rng(seed)
    with kinonb.create(path, compression={"front": "lz4"} if camera else None) as w:
        for i, t in enumerate(lengths):
            images = {"front": rng.integers(0, 255, (t, 8, 8, 3), np.uint8)} if camera else None
            w.add_episode(rng.normal(size=(t, 3)).astype(np.float32), rng.normal(size=(t, 2)).astype(np.float32),
                          images=images, task="pick" if i % 2 else "place", success=bool(i % 2), fps=10.0)
    return path


@pytest.fixture(scope="module")
def knb(tmp_path_factory):
    """Six episodes with an lz4 camera; episode 1 trimmed afterwards, so its bytes come last in the file."""
    path = write(tmp_path_factory.mktemp("ray") / "d.knb")
    with kinonb.append(path) as w:
        w.trim(1, 0, 4)
    return path


def numpy_batches(ds):
    return list(ds.iter_batches(batch_size=None, batch_format="numpy"))


def by_sample(batches):
    """{(episode, frame): row dict} over numpy batches."""
    out = {}
    for b in batches:
        for k in range(len(b["episode"])):
            out[(int(b["episode"][k]), int(b["frame"][k]))] = {n: v[k] for n, v in b.items()}
    return out


def reference(db, windows, **kw):
    index = db.sample_index(windows, **kw)
    return by_sample([index.read(np.arange(len(index)))])


def test_import_kinonb_does_not_import_ray():
    code = "import sys, kinonb, kinonb.ray; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_ray_names_the_extra(knb, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'kinonb\[ray\]'"):
        read_knb(knb, windows=WINDOWS)


def test_episode_rows(ray_session, knb):
    db = kinonb.open(knb)
    rows = sorted(read_knb(knb).take_all(), key=lambda r: r["episode"])
    assert [r["episode"] for r in rows] == list(range(db.num_episodes()))
    for r in rows:
        meta = db.read_meta(r["episode"])
        assert (r["task"], r["success"], r["num_frames"], r["fps"]) == (meta["task"], meta["success"],
                                                                         meta["num_frames"], meta["fps"])
        np.testing.assert_array_equal(r["actions"], db.frames(r["episode"], "actions"))
        np.testing.assert_array_equal(r["states"], db.frames(r["episode"], "states"))
        assert "front" not in r  # cameras only when named
    cams = read_knb(knb, columns=["front"]).take_all()
    for r in cams:
        assert set(r) - {"front"} == set(rows[0]) - {"actions", "states"}
        np.testing.assert_array_equal(r["front"], db.frames(r["episode"], "front"))


@pytest.mark.parametrize("pad", ["edge", "none"])
def test_window_rows_equal_the_sample_index(ray_session, knb, pad):
    db = kinonb.open(knb)
    want = reference(db, WINDOWS, pad=pad)
    source = knb_datasource(knb, windows=WINDOWS, pad=pad, block_rows=7)
    batches = numpy_batches(ray.data.read_datasource(source, override_num_blocks=3))
    got = by_sample(batches)
    assert got.keys() == want.keys() and sum(len(b["episode"]) for b in batches) == len(want)
    for key, row in want.items():
        assert row.keys() == got[key].keys()
        for name in row:
            np.testing.assert_array_equal(got[key][name], row[name], err_msg=f"{key} {name}")
    padded = sum(bool(r["actions_is_pad"].any()) for r in got.values())
    assert padded == (3 * db.num_episodes() if pad == "edge" else 0)  # the last 3 frames of each episode
    assert batches[0]["actions"].shape[1:] == (4, 3) and batches[0]["states"].shape[1:] == (1, 2)
    # the estimate is the rows' numpy bytes exactly (no tolerance: nothing is counted that is not there)
    assert source.estimate_inmemory_data_size() == sum(v.nbytes for b in batches for v in b.values())


def test_estimate_and_task_metadata(knb):
    source = knb_datasource(knb, windows=WINDOWS)
    tasks = source.get_read_tasks(4)
    db = kinonb.open(knb)
    index = db.sample_index(WINDOWS)
    row = sum(v[0].nbytes for v in index.read([0]).values())
    assert sum(t.metadata.num_rows for t in tasks) == len(index)
    assert sum(t.metadata.size_bytes for t in tasks) == len(index) * row == source.estimate_inmemory_data_size()
    for t in tasks:  # each task's metadata is what it produces
        blocks = list(t())
        assert sum(b.num_rows for b in blocks) == t.metadata.num_rows
        assert sum(v.nbytes for b in blocks for v in _numpy(b).values()) == t.metadata.size_bytes


def _numpy(block):
    from ray.data.block import BlockAccessor

    return BlockAccessor.for_block(block).to_numpy()


def test_episode_estimate_is_the_rows_size(ray_session, knb):
    source = knb_datasource(knb, columns=["actions", "front"])
    rows = ray.data.read_datasource(source).take_all()
    assert len(rows) == 6 and source.estimate_inmemory_data_size() == sum(row_nbytes(r) for r in rows)


def test_kql_filter(ray_session, knb):
    db = kinonb.open(knb)
    want = db.query_positions("success = true")
    assert 0 < len(want) < db.num_episodes()
    got = sorted({r["episode"] for r in read_knb(knb, windows=WINDOWS, kql_filter="success = true").take_all()})
    assert got == list(want)
    with pytest.raises(EmptyDatasetError):
        read_knb(knb, windows=WINDOWS, kql_filter="task = 'none such'")


def test_actions_only_reads_no_camera_byte(ray_session, knb, tmp_path):
    """Every byte of the camera's blocks overwritten: an actions-only read still gives the clean file's rows, a
    read of the camera does not (so the check can fail)."""
    bad = tmp_path / "bad.knb"
    shutil.copy(knb, bad)
    db = kinonb.open(knb)
    starts, ends = db.block_ranges(np.arange(db.num_episodes()), columns=["front"])
    data = bytearray(bad.read_bytes())
    for s, e in zip(starts.tolist(), ends.tolist()):
        data[s:e] = b"\xff" * (e - s)
    bad.write_bytes(bytes(data))
    windows = dict(WINDOWS, front=[0])
    got = by_sample(numpy_batches(read_knb(bad, windows=windows, columns=["actions"])))
    want = reference(db, {"actions": WINDOWS["actions"]})
    assert got.keys() == want.keys()
    assert all(np.array_equal(got[k]["actions"], want[k]["actions"]) and "front" not in got[k] for k in want)
    with pytest.raises(kinonb.FormatError):
        numpy_batches(read_knb(bad, windows=windows))


def test_files_and_dataset_folder(ray_session, tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    a = write(folder / "shard-00000.knb", (6, 8, 5), seed=1, camera=False)
    b = write(folder / "shard-00001.knb", (7, 9), seed=2, camera=False)
    write_manifest(folder)
    want = {}
    for offset, path in ((0, a), (3, b)):
        for (ep, t), row in reference(kinonb.open(path), WINDOWS).items():
            want[(ep + offset, t)] = row
    for paths in ([a, b], folder, folder / "kinonb-dataset.json"):
        got = by_sample(numpy_batches(read_knb(paths, windows=WINDOWS)))
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k]["actions"], want[k]["actions"]) for k in want)
    episodes = read_knb(folder).take_all()
    assert sorted(r["episode"] for r in episodes) == list(range(5))


def test_read_tasks_follow_byte_order(knb):
    """Each task a contiguous run of the file's episodes in byte order; every episode in exactly one."""
    from kinonb.ray.locality import episode_extents

    db = kinonb.open(knb)
    first, _ = episode_extents(db, np.arange(db.num_episodes()), ["actions", "states"])
    order = list(np.argsort(first))
    assert order != sorted(order)  # the trimmed episode's bytes come last: byte order is not position order
    source = knb_datasource(knb, windows=WINDOWS)
    for parallelism in (1, 2, 4, 100):
        tasks = source.get_read_tasks(parallelism)
        assert len(tasks) == min(parallelism, db.num_episodes())
        runs = []
        for t in tasks:
            episodes = [int(e) for b in t() for e in _numpy(b)["episode"]]
            runs.append(list(dict.fromkeys(episodes)))  # distinct, in the order read
        assert [e for run in runs for e in run] == order


def test_cut_balances_bytes():
    from kinonb.ray.locality import cut

    assert [g.tolist() for g in cut(np.full(6, 10), 3)] == [[0, 1], [2, 3], [4, 5]]
    w = np.array([100, 100, 100, 100, 400, 100, 100, 300, 50])
    groups = cut(w, 3)
    assert np.concatenate(groups).tolist() == list(range(len(w)))  # contiguous runs, in order, each unit once
    assert all(abs(w[g].sum() - w.sum() / 3) <= w.max() / 2 + len(w) for g in groups)  # each boundary nearest
    assert [g.tolist() for g in cut(np.array([5, 0, 0]), 3)] == [[0], [1], [2]]
    assert len(cut(np.ones(10), 4)) == 4 and np.concatenate(cut(np.ones(10), 4)).tolist() == list(range(10))


def test_bad_arguments(knb):
    with pytest.raises(InvalidArgumentError, match="unknown keyword"):
        read_knb(knb, windows=WINDOWS, shuffle=True)
    with pytest.raises(InvalidArgumentError, match="not a key of windows"):
        read_knb(knb, windows=WINDOWS, columns=["front"])
    with pytest.raises(kinonb.UnknownKeyError):
        read_knb(knb, columns=["nope"])


def test_behaviour_cloning_loop(ray_session, knb):
    torch = pytest.importorskip("torch")
    db = kinonb.open(knb)
    want = reference(db, WINDOWS)
    ds = read_knb(knb, windows=WINDOWS)
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 4 * 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    steps = 0
    for batch in ds.iter_torch_batches(batch_size=8, drop_last=True):
        assert batch["actions"].shape == (8, 4, 3) and batch["states"].shape == (8, 1, 2)
        assert batch["actions"].dtype == torch.float32 and batch["actions_is_pad"].dtype == torch.bool
        for k in range(8):
            row = want[(int(batch["episode"][k]), int(batch["frame"][k]))]
            assert np.array_equal(batch["actions"][k].numpy(), row["actions"])
            assert np.array_equal(batch["states"][k].numpy(), row["states"])
        pred = model(batch["states"][:, 0]).reshape(-1, 4, 3)
        mask = (~batch["actions_is_pad"]).unsqueeze(-1).float()
        loss = (((pred - batch["actions"]) ** 2) * mask).sum() / mask.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
        steps += 1
    assert steps == len(want) // 8 and not torch.equal(before, model.weight)
