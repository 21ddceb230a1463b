"""Sharded, parallel, resumable ingest (issue 17 req 3) and the common ``episodes=`` option it is built on.

The shards of ``ingest_shards(src, DIR, shards=N)``, read in manifest order (and the folder opened as one
dataset), must hold exactly the episodes of a plain ``ingest(src, "one.knb")``: values, dtypes, metadata and
episode ids. A failed or killed run, run again, must continue without a duplicate or a missing episode.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kinonb
from kinonb.cli import main
from kinonb.errors import InvalidArgumentError, OutputExistsError, SourceLayoutError
from kinonb.interop.ingest import count_episodes, ingest
from kinonb.interop.ingest.shards import ingest_shards
from kinonb.interop.ingest.tfrecord import count_records, iter_records
from kinonb.testing.proto import encode_example, encode_record

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")

N = 10  # source episodes of every builder


# ---- sources --------------------------------------------------------------------------------------------------

def npz_folder(root: Path, n: int = N) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        t = 3 + i % 4
        np.savez(root / f"ep_{i}.npz", actions=rng.normal(size=(t, 3)).astype(np.float32),
                 states=rng.normal(size=(t + 1, 2)), rewards=rng.random(t).astype(np.float32),
                 image=rng.integers(0, 256, (t, 4, 5, 3), dtype=np.uint8))
        (root / f"ep_{i}.json").write_text(json.dumps({"task": f"task {i % 3}", "fps": 10, "success": i % 2 == 0}))
    return root


def npz_concatenated(path: Path) -> Path:
    rng = np.random.default_rng(1)
    ends = np.cumsum(np.arange(N) % 3 + 2)
    np.savez(path, actions=rng.normal(size=(ends[-1], 2)), episode_ends=ends)
    return path


def pickle_file(path: Path) -> Path:
    import pickle

    rng = np.random.default_rng(2)
    eps = [{"actions": rng.normal(size=(4 + i % 2, 3)), "observations": rng.normal(size=(4 + i % 2, 2))}
           for i in range(N)]
    path.write_bytes(pickle.dumps(eps))
    return path


def hdf5_file(path: Path) -> Path:
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "env_kwargs": {"robots": ["Panda"],
                                                                               "control_freq": 20}})
        for k, n in enumerate([0, 1, 2, 3, 5, 8, 10, 12, 20, 33]):  # ids N, numeric order (demo_2 before demo_10)
            g = data.create_group(f"demo_{n}")
            t = 3 + k % 3
            g["actions"] = rng.normal(size=(t, 3)).astype(np.float32)
            g["rewards"] = (np.arange(t) == t - 1).astype(np.float64) * (k % 2)
            g["dones"] = (np.arange(t) == t - 1).astype(np.int64)
            g["obs/qpos"] = rng.normal(size=(t, 2))
            g["obs/agentview_image"] = rng.integers(0, 256, (t, 4, 4, 3), dtype=np.uint8)
            g.attrs["num_samples"] = t
    return path


def zarr_group(path: Path, seed: int):
    """(a new zarr v2 group at ``path``, a seeded Generator, episode_ends of N episodes)."""
    zarr = pytest.importorskip("zarr")
    return zarr.open_group(str(path), mode="w", zarr_format=2), np.random.default_rng(seed), \
        np.cumsum(np.arange(N) % 3 + 2)


def zarr_buffer(path: Path) -> Path:
    root, rng, ends = zarr_group(path, 4)
    data, meta = root.create_group("data"), root.create_group("meta")
    arrays = {"action": rng.normal(size=(ends[-1], 2)).astype(np.float32), "state": rng.normal(size=(ends[-1], 3)),
              "img": rng.integers(0, 256, (ends[-1], 4, 4, 3), dtype=np.uint8)}
    for k, v in arrays.items():
        data.create_array(k, shape=v.shape, dtype=v.dtype, chunks=(4,) + v.shape[1:])[...] = v
    meta.create_array("episode_ends", shape=ends.shape, dtype=np.int64)[...] = ends
    root.attrs["fps"] = 10
    return path


def zarr_flat(path: Path) -> Path:
    root, rng, ends = zarr_group(path, 5)
    root.create_array("actions", shape=(ends[-1], 2), dtype=np.float64)[...] = rng.normal(size=(ends[-1], 2))
    root.create_array("episode_ends", shape=ends.shape, dtype=np.int64)[...] = ends
    return path


def kdb_file(path: Path, n: int = 30) -> Path:
    """Low-dim episodes (in bulk runs of the kdb ingest) with three camera episodes among them."""
    from kinonb.interop import write_kdb

    rng = np.random.default_rng(6)
    eps = []
    for i in range(n):
        t = 2 + i % 3
        ep = {"actions": rng.normal(size=(t, 2)).astype(np.float32), "states": rng.normal(size=(t, 3)),
              "rewards": rng.random(t), "is_terminal": np.arange(t) == t - 1,
              "meta": {"task": f"t{i % 2}", "embodiment": "arm", "fps": 10.0, "success": bool(i % 2),
                       "total_reward": float(i)}}
        if i in (4, 15, 16):
            ep["images"] = {"cam": rng.integers(0, 256, (t, 4, 4, 3), dtype=np.uint8)}
        eps.append(ep)
    write_kdb(path, eps)
    return path


def rlds_folder(root: Path) -> Path:
    rng = np.random.default_rng(7)
    d = root / "0.1.0"
    d.mkdir(parents=True)
    for shard, count in enumerate((4, 6)):  # two TFRecord files: a shard's range starts inside the second
        with open(d / f"toy-train.tfrecord-{shard:05d}-of-00002", "wb") as f:
            for e in range(count):
                t = 3 + e % 2
                f.write(encode_record(encode_example({
                    "steps/action": rng.normal(size=(t, 2)).astype(np.float32).reshape(-1),
                    "steps/is_first": (np.arange(t) == 0) * 1, "steps/reward": rng.random(t).astype(np.float32),
                    "episode_metadata/id": np.array([shard * 10 + e])})))
    return root


def lerobot_folder(root: Path) -> Path:
    from test_ingest_generic import lerobot_v30_dual_arm

    lerobot_v30_dual_arm(root, lengths=tuple(3 + i % 3 for i in range(N)))
    return root


def hf_folder(root: Path) -> Path:
    from test_ingest_generic import so101_save_to_disk

    so101_save_to_disk(root, lengths=tuple(2 + i % 3 for i in range(N)))
    return root


def rrd_folder(root: Path) -> Path:
    pytest.importorskip("rerun")
    pytest.importorskip("datafusion")
    pytest.importorskip("PIL")
    from test_rrd import write_recording

    root.mkdir()
    for i in range(6):
        write_recording(root / f"ep{i}.rrd", 3 + i % 2, seed=i)
    return root


SOURCES = {"npz": (npz_folder, "src"), "npz_concatenated": (npz_concatenated, "s.npz"),
           "pickle": (pickle_file, "s.pickle"), "hdf5": (hdf5_file, "s.hdf5"), "zarr": (zarr_buffer, "s.zarr"),
           "zarr_flat": (zarr_flat, "f.zarr"), "kdb": (kdb_file, "s.kdb"), "rlds": (rlds_folder, "ds"),
           "lerobot": (lerobot_folder, "lr"), "hf_datasets": (hf_folder, "hf"), "rrd": (rrd_folder, "recs")}
FORMATS = {"npz_concatenated": "npz", "zarr_flat": "zarr"}


def source(kind: str, tmp_path: Path) -> Path:
    build, name = SOURCES[kind]
    return build(tmp_path / name)


# ---- comparing ------------------------------------------------------------------------------------------------

def assert_same_tree(got, want, where="episode"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), (where, sorted(got), sorted(want))
        for k in want:
            assert_same_tree(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), (where, got, want)
        for k, (a, b) in enumerate(zip(got, want)):
            assert_same_tree(a, b, f"{where}[{k}]")
    elif dataclasses.is_dataclass(want):
        assert type(got) is type(want), (where, got, want)
        assert_same_tree(vars(got), vars(want), where)
    elif isinstance(want, np.ndarray):
        got = np.asarray(got)
        assert (got.dtype, got.shape) == (want.dtype, want.shape), (where, got.dtype, got.shape, want.dtype)
        assert got.tobytes() == want.tobytes(), where
    else:
        assert type(got) is type(want) and got == want, (where, got, want)


def read_all(db) -> list:
    return [db.read_episode(i) for i in range(len(db))]


def manifest_episodes(folder: Path) -> list:
    """Every episode of the shards the manifest names, in its order (each shard opened as a file)."""
    doc = json.loads((folder / "kinonb-dataset.json").read_text())
    out = []
    for shard in doc["shards"]:
        out += read_all(kinonb.open(folder / shard["path"]))
    return out


def assert_same_episodes(got: list, want: list) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_same_tree(a, b, f"episode {i}")


def assert_dataset_is(folder: Path, single: Path) -> None:
    """The folder, read shard by shard and as one dataset, holds exactly the single file's episodes."""
    want = read_all(kinonb.open(single))
    assert_same_episodes(manifest_episodes(folder), want)
    assert_same_episodes(read_all(kinonb.open(folder)), want)
    ids = [ep["meta"]["episode_id"] for ep in want]
    assert len(set(ids)) == len(ids)


# ---- the episodes= option ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_episodes_option_reads_exactly_those_episodes(kind, tmp_path):
    src = source(kind, tmp_path)
    fmt = FORMATS.get(kind, kind)
    ingest(src, tmp_path / "all.knb", format=fmt)
    everything = read_all(kinonb.open(tmp_path / "all.knb"))
    assert count_episodes(src, format=fmt) == len(everything) >= 5
    assert count_episodes(src, format=fmt, max_episodes=3) == 3
    report = ingest(src, tmp_path / "part.knb", format=fmt, episodes=range(2, 5))
    assert report.episodes == 3
    assert_same_episodes(read_all(kinonb.open(tmp_path / "part.knb")), everything[2:5])
    ingest(src, tmp_path / "tail.knb", format=fmt, episodes=range(len(everything) - 1, len(everything)))
    assert_same_episodes(read_all(kinonb.open(tmp_path / "tail.knb")), everything[-1:])
    with pytest.raises(InvalidArgumentError, match="episodes=range"):
        ingest(src, tmp_path / "x.knb", format=fmt, max_episodes=4, episodes=range(2, 5))
    with pytest.raises(InvalidArgumentError, match="range of step 1"):
        ingest(src, tmp_path / "y.knb", format=fmt, episodes=range(0, 4, 2))


def test_tfrecord_skip_reads_no_skipped_record(tmp_path):
    path = tmp_path / "r.tfrecord"
    records = [bytes([k]) * (10 + k) for k in range(5)]
    blob = bytearray(b"".join(encode_record(r) for r in records))
    assert count_records_of(path, blob) == 5
    assert [d for _, d in iter_records(path, skip=2)] == records[2:]
    blob[12 + 3] ^= 0xFF  # the first record's data: its CRC no longer matches
    path.write_bytes(bytes(blob))
    assert [d for _, d in iter_records(path, skip=1)] == records[1:]  # skipped unread
    with pytest.raises(kinonb.errors.ChecksumError):
        list(iter_records(path))


def count_records_of(path: Path, blob) -> int:
    path.write_bytes(bytes(blob))
    return count_records(path)


# ---- sharded ingest equals single-file ingest -------------------------------------------------------------------

@pytest.mark.parametrize("kind, shards, workers", [("npz", 3, 1), ("npz", 4, 2), ("hdf5", 3, 1), ("hdf5", 3, 2),
                                                   ("zarr", 3, 1), ("kdb", 4, 1), ("kdb", 3, 2), ("rlds", 3, 1),
                                                   ("zarr_flat", 2, 1)])
def test_shards_hold_the_single_file_ingest(kind, shards, workers, tmp_path):
    src = source(kind, tmp_path)
    fmt = FORMATS.get(kind, kind)
    ingest(src, tmp_path / "one.knb", format=fmt, fps=20 if kind == "npz" else None)
    report = ingest_shards(src, tmp_path / "ds", shards=shards, workers=workers, format=fmt,
                           fps=20 if kind == "npz" else None)
    names = sorted(p.name for p in (tmp_path / "ds").glob("*.knb"))
    assert names == [f"shard-{i:05d}.knb" for i in range(shards)]
    one = kinonb.open(tmp_path / "one.knb")
    assert (report.episodes, report.frames) == (len(one), one.num_frames())
    counts = [len(kinonb.open(tmp_path / "ds" / n)) for n in names]
    assert counts == [len(a) for a in np.array_split(np.arange(len(one)), shards)]  # balanced, in source order
    assert_dataset_is(tmp_path / "ds", tmp_path / "one.knb")
    assert not list((tmp_path / "ds" / ".kinonb-ingest").glob("*.partial"))


def test_cli_shards_and_workers(tmp_path):
    src = npz_folder(tmp_path / "src")
    assert main(["-q", "ingest", str(src), "-o", str(tmp_path / "one.knb")]) == 0
    assert main(["-q", "ingest", str(src), "-o", str(tmp_path / "ds"), "--shards", "3", "--workers", "2",
                 "--max-episodes", "8"]) == 0
    want = read_all(kinonb.open(tmp_path / "one.knb"))[:8]
    assert_same_episodes(manifest_episodes(tmp_path / "ds"), want)
    assert main(["-q", "ingest", str(src), "-o", str(tmp_path / "x.knb"), "--workers", "2"]) == 2
    assert main(["-q", "ingest", str(src), "-o", str(tmp_path / "ds"), "--shards", "2"]) == 1  # another plan


def test_cli_commit_every_and_no_resume(tmp_path, capsys):
    src = npz_folder(tmp_path / "src")
    good = (src / "ep_7.npz").read_bytes()
    (src / "ep_7.npz").write_bytes(b"not a zip")
    args = ["-q", "ingest", str(src), "-o", str(tmp_path / "ds"), "--format", "npz", "--shards", "2"]
    assert main(args + ["--commit-every", "1"]) == 1
    assert len(kinonb.open(tmp_path / "ds" / ".kinonb-ingest" / "shard-00001.knb.partial")) == 2  # 5, 6 committed
    (src / "ep_7.npz").write_bytes(good)
    capsys.readouterr()
    assert main(args + ["--no-resume"]) == 1 and "plan" in capsys.readouterr().err
    assert main(args + ["--commit-every", "1"]) == 0
    assert len(kinonb.open(tmp_path / "ds")) == N
    assert main(["-q", "ingest", str(src), "-o", str(tmp_path / "x.knb"), "--commit-every", "3"]) == 2


# ---- resuming ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_episode_then_a_rerun_continues_without_duplicates(workers, tmp_path):
    src = npz_folder(tmp_path / "src")
    ingest(src, tmp_path / "one.knb")
    good = (src / "ep_7.npz").read_bytes()
    (src / "ep_7.npz").write_bytes(b"not a zip")  # shard 1 holds source episodes 5..9
    with pytest.raises(SourceLayoutError, match=r"shard 1 \(source episodes 5\.\.9\), at source episode 7"):
        ingest_shards(src, tmp_path / "ds", shards=2, workers=workers, autocommit_episodes=1)
    partial = tmp_path / "ds" / ".kinonb-ingest" / "shard-00001.knb.partial"
    assert len(kinonb.open(partial)) == 2  # episodes 5 and 6 committed
    assert not (tmp_path / "ds" / "kinonb-dataset.json").exists()
    (src / "ep_7.npz").write_bytes(good)
    report = ingest_shards(src, tmp_path / "ds", shards=2, workers=workers, autocommit_episodes=1)
    assert "shard-00001.knb: 2 episodes kept from an earlier run" in report.notes
    assert report.episodes == N
    assert_dataset_is(tmp_path / "ds", tmp_path / "one.knb")


def test_a_torn_tail_and_a_rename_the_plan_missed(tmp_path):
    src = npz_folder(tmp_path / "src")
    ingest(src, tmp_path / "one.knb")
    (src / "ep_8.npz").rename(tmp_path / "ep_8.npz")
    (src / "ep_8.npz").mkdir()  # a folder where a file should be: reading it fails
    with pytest.raises(Exception, match="at source episode 8"):
        ingest_shards(src, tmp_path / "ds", shards=2, autocommit_episodes=1, format="npz")
    partial = tmp_path / "ds" / ".kinonb-ingest" / "shard-00001.knb.partial"
    with open(partial, "ab") as f:
        f.write(b"\x01" * 5000)  # a kill in the middle of an append
    (src / "ep_8.npz").rmdir()
    (tmp_path / "ep_8.npz").rename(src / "ep_8.npz")
    report = ingest_shards(src, tmp_path / "ds", shards=2, autocommit_episodes=1, format="npz")
    assert any("3 episodes kept" in n and "5000 bytes removed" in n for n in report.notes), report.notes
    assert_dataset_is(tmp_path / "ds", tmp_path / "one.knb")
    # a crash after a shard was renamed into place but before the plan said so: the shard is kept as it is
    plan_path = tmp_path / "ds" / ".kinonb-ingest" / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["done"][1] = False
    plan_path.write_text(json.dumps(plan))
    (tmp_path / "ds" / "kinonb-dataset.json").unlink()
    ingest_shards(src, tmp_path / "ds", shards=2, autocommit_episodes=1, format="npz")
    assert_dataset_is(tmp_path / "ds", tmp_path / "one.knb")


KILLED = """
import sys
from kinonb.interop.ingest.shards import ingest_shards
if __name__ == "__main__":
    ingest_shards(sys.argv[1], sys.argv[2], shards=2, format="npz", autocommit_episodes=1)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_sigkill_mid_shard_then_the_same_command_continues(tmp_path):
    """A process killed with SIGKILL while it writes shard 1 (it blocks reading source episode 8, a named pipe
    nobody writes) leaves what it committed; the same call continues from there."""
    src = npz_folder(tmp_path / "src")
    ingest(src, tmp_path / "one.knb")
    (src / "ep_8.npz").rename(tmp_path / "ep_8.npz")
    os.mkfifo(src / "ep_8.npz")
    script = tmp_path / "run.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), str(src), str(tmp_path / "ds")])
    partial = tmp_path / "ds" / ".kinonb-ingest" / "shard-00001.knb.partial"
    try:
        deadline = time.monotonic() + 120
        while not (partial.exists() and len(kinonb.open(partial)) == 3):  # episodes 5, 6, 7: then it blocks
            assert proc.poll() is None and time.monotonic() < deadline, "the ingest never reached episode 8"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    os.unlink(src / "ep_8.npz")
    (tmp_path / "ep_8.npz").rename(src / "ep_8.npz")
    report = ingest_shards(src, tmp_path / "ds", shards=2, format="npz", autocommit_episodes=1)
    assert any(n.startswith("shard-00001.knb: 3 episodes kept") for n in report.notes), report.notes
    assert_dataset_is(tmp_path / "ds", tmp_path / "one.knb")


def _descendants_waiting_on_a_pipe() -> list[int]:
    """Processes below this one blocked opening a named pipe (Linux: /proc/PID/wchan is wait_for_partner)."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])

    def below_me(pid):
        while pid in parent and pid != os.getpid():
            pid = parent[pid]
        return pid == os.getpid()

    out = []
    for pid in parent:
        try:
            waiting = Path(f"/proc/{pid}/wchan").read_text() == "wait_for_partner"
        except OSError:
            continue
        if pid != os.getpid() and waiting and below_me(pid):
            out.append(pid)
    return out


def _committed(partial: Path) -> int:
    """Episodes committed in a partial shard that a worker may be appending to (a torn tail is expected)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kinonb.TornTailWarning)
        return len(kinonb.open(partial))


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/proc/self/wchan"), reason="needs Linux /proc")
def test_a_killed_worker_stops_the_run_and_the_rerun_continues(tmp_path):
    """The worker writing shard 1 is SIGKILLed while it blocks reading source episode 8 (a named pipe): the run
    stops with an error naming the dead worker, and the same call continues from its 3 committed episodes."""
    import threading

    src = npz_folder(tmp_path / "src")
    ingest(src, tmp_path / "one.knb")
    (src / "ep_8.npz").rename(tmp_path / "ep_8.npz")
    os.mkfifo(src / "ep_8.npz")
    failed = []

    def run():
        try:
            ingest_shards(src, tmp_path / "ds", shards=2, workers=2, format="npz", autocommit_episodes=1)
        except Exception as e:  # noqa: BLE001 - the test checks what it is
            failed.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    partial = tmp_path / "ds" / ".kinonb-ingest" / "shard-00001.knb.partial"
    deadline = time.monotonic() + 120
    while not (partial.exists() and _committed(partial) == 3 and _descendants_waiting_on_a_pipe()):
        assert thread.is_alive() and time.monotonic() < deadline, "the ingest never reached episode 8"
        time.sleep(0.05)
    (blocked,) = _descendants_waiting_on_a_pipe()
    os.kill(blocked, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive() and len(failed) == 1
    assert f"pid {blocked}" in str(failed[0]) and "died" in str(failed[0])
    os.unlink(src / "ep_8.npz")
    (tmp_path / "ep_8.npz").rename(src / "ep_8.npz")
    report = ingest_shards(src, tmp_path / "ds", shards=2, workers=2, format="npz", autocommit_episodes=1)
    assert any(n.startswith("shard-00001.knb: 3 episodes kept") for n in report.notes), report.notes
    assert_dataset_is(tmp_path / "ds", tmp_path / "one.knb")


# ---- plans: refused, no-op, afresh --------------------------------------------------------------------------------

def test_a_plan_of_another_command_is_refused(tmp_path):
    src = npz_folder(tmp_path / "src")
    other = npz_folder(tmp_path / "other", n=6)
    ingest_shards(src, tmp_path / "ds", shards=3, fps=10)
    for kwargs, what in ((dict(shards=2, fps=10), "shards 2"), (dict(shards=3, fps=30), "option fps=30"),
                         (dict(shards=3), "option fps=None"), (dict(shards=3, fps=10, max_episodes=5), "max_episodes")):
        with pytest.raises(InvalidArgumentError, match=what):
            ingest_shards(src, tmp_path / "ds", **kwargs)
    with pytest.raises(InvalidArgumentError, match="source"):
        ingest_shards(other, tmp_path / "ds", shards=3, fps=10)
    with pytest.raises(OutputExistsError, match="without --no-resume. continues it"):
        ingest_shards(src, tmp_path / "ds", shards=3, fps=10, resume=False)
    report = ingest_shards(other, tmp_path / "ds", shards=2, overwrite=True)  # afresh: the old shards are gone
    assert report.episodes == 6
    assert sorted(p.name for p in (tmp_path / "ds").glob("*.knb")) == ["shard-00000.knb", "shard-00001.knb"]
    assert_same_episodes(manifest_episodes(tmp_path / "ds"), read_all(kinonb.open(ingest_single(other, tmp_path))))


def ingest_single(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"{src.name}.knb"
    ingest(src, out)
    return out


def test_a_finished_folder_is_a_no_op(tmp_path):
    src = npz_folder(tmp_path / "src")
    first = ingest_shards(src, tmp_path / "ds", shards=3)
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in (tmp_path / "ds").iterdir() if p.is_file()}
    again = ingest_shards(src, tmp_path / "ds", shards=3)
    assert any("already complete" in n and "nothing to do" in n for n in again.notes)
    assert (again.episodes, again.frames) == (first.episodes, first.frames) == (N, first.frames)
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in (tmp_path / "ds").iterdir() if p.is_file()} == before


def test_refusals(tmp_path):
    src = npz_folder(tmp_path / "src", n=4)
    with pytest.raises(InvalidArgumentError, match="more than the 4 source episodes"):
        ingest_shards(src, tmp_path / "ds", shards=5)
    with pytest.raises(InvalidArgumentError, match="shards must be an int >= 1"):
        ingest_shards(src, tmp_path / "ds", shards=0)
    with pytest.raises(InvalidArgumentError, match="chooses each shard's episodes"):
        ingest_shards(src, tmp_path / "ds", shards=2, episodes=range(2))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "shard-00000.knb").write_bytes(b"someone else's")
    with pytest.raises(OutputExistsError, match="no .kinonb-ingest/plan.json"):
        ingest_shards(src, foreign, shards=2)
    assert ingest_shards(src, foreign, shards=2, overwrite=True).episodes == 4
