"""The real peers on the same data, in one run (issue 18 req 7): kinonb against robomimic, LeRobot and kinodb.

    python -m bench.bench_peers [--quick] [--episodes N] [--hdf5 PATH] [--lerobot-python PATH] [--json PATH|-]

One low-dim dataset (default synthetic, 500 episodes x 200 frames, 7-d actions, 32-d states, float32; or the
demos of a robomimic HDF5 given with ``--hdf5``, e.g. the scripted Lift demos in ``../shared/datasets/``) is
written in each peer's own format: ``.knb``; a robomimic HDF5 (``data/demo_i/actions``, ``obs/state``); a kinodb
``.kdb`` (kinonb's writer of kinodb's v0.1 layout, which kinodb's wheel reads); and a LeRobot v3.0 folder
(``kinonb export --format lerobot``). Every loader reads the same BC samples: actions ``t .. t+15`` and the
state at ``t``, edge-padded at the episode's end, batch 256, shuffled, and each is checked value for value
against the source arrays before it is timed. Loaders, each the peer's own:

- kinonb: ``kinonb.torch.Loader`` over ``KinoDataset(windows=...)``, and ``DataLoader`` over the same dataset;
- robomimic 0.3.0: ``SequenceDataset(seq_length=16)`` with ``hdf5_cache_mode`` None and ``"all"``;
- LeRobot 0.6: ``LeRobotDataset(root=..., delta_timestamps=...)``, run by ``--lerobot-python`` (a Python 3.12
  venv, docs/bench/cameras.md; default $KINONB_LEROBOT_PYTHON or /work/venv312/bin/python);
- kinodb (its wheel, ``../shared/peers/kinodb/``): its ``KinoDataset`` yields whole episodes only, so the row is
  a map dataset that cuts the window from ``read_episode_actions_only`` (labelled as such).

Each through ``DataLoader(num_workers=0)`` and ``(num_workers=2)`` (fork), warm (one pass first) and cold (the
files evicted from the page cache, a new dataset: robomimic's ``"all"`` build is inside its cold and warm
figures, since every new dataset pays it). Samples per timed pass are bounded (``--samples``) for the slow
loaders. Also bytes on disk, and import to first batch in a fresh process. Peers that are not installed are
skipped, and said so. Ratios are kinonb ``Loader``'s samples/s over each row's, in the same run.

A second table runs kinodb's own training path against kinonb's drop-in: ``KinoDataset(path, image_key,
image_size)`` over whole episodes with a camera, on a ``.kdb`` kinodb's CLI wrote (and its ``.knb`` ingest),
workers 0 and 2, values checked against kinodb's first batch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_cold import evict, quiet, robomimic_dataset
from .bench_writes import KINO
from .report import print_and_save
from .sources import Source, synthetic_source, write_hdf5, write_knb

SEQ = 16
BATCH = 256
FPS = 10.0
LEROBOT_PYTHON = os.environ.get("KINONB_LEROBOT_PYTHON", "/work/venv312/bin/python")


def locate(lengths: np.ndarray, i: int) -> tuple[int, int]:
    """(episode, frame) of sample ``i``: samples are episode-major, one per frame."""
    starts = np.cumsum(lengths) - lengths
    e = int(np.searchsorted(starts, i, side="right")) - 1
    return e, int(i - starts[e])


def truth(src, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The actions windows and states of samples ``ids``, from the source."""
    acts, states = [], []
    for i in ids.tolist():
        e, t = locate(src.lengths, i)
        rows = np.minimum(np.arange(t, t + SEQ), len(src.actions[e]) - 1)
        acts.append(src.actions[e][rows])
        states.append(src.states[e][t])
    return np.stack(acts), np.stack(states)


class KinodbWindows:
    """BC windows from kinodb's own reader: ``read_episode_actions_only`` per sample, the window cut from it."""

    def __init__(self, path: Path, lengths: np.ndarray):
        import kinodb

        self.db, self.lengths = kinodb.open(str(path)), lengths

    def __len__(self):
        return int(self.lengths.sum())

    def __getitem__(self, i):
        import torch

        e, t = locate(self.lengths, int(i))
        ep = self.db.read_episode_actions_only(e)
        rows = np.minimum(np.arange(t, t + SEQ), len(ep["actions"]) - 1)
        return {"actions": torch.from_numpy(ep["actions"][rows]), "states": torch.from_numpy(ep["states"][t])}


def datasets(paths: dict, lengths: np.ndarray, notes: list) -> dict:
    """name -> (a function making the dataset, how to get (actions, states) of a batch); a peer that is not
    installed is left out, and ``notes`` says so."""
    from kinonb.torch import KinoDataset

    out = {"kinonb KinoDataset": (lambda: KinoDataset(paths["knb"], windows={"actions": range(SEQ), "states": [0]},
                                                      actions_only=True),
                                  lambda b: (b["actions"], b["states"][:, 0]))}
    try:
        import robomimic  # noqa: F401

        for mode in (None, "all"):
            out[f"robomimic cache {mode!r}"] = (lambda mode=mode: quiet(robomimic_dataset, paths["hdf5"], mode),
                                                lambda b: (b["actions"], b["obs"]["state"][:, 0]))
    except ImportError:
        notes.append("robomimic skipped: not installed (pip install robomimic==0.3.0 --no-deps, then h5py psutil "
                     "tqdm termcolor)")
    try:
        import kinodb  # noqa: F401

        out["kinodb read_episode_actions_only per sample"] = (lambda: KinodbWindows(paths["kdb"], lengths),
                                                              lambda b: (b["actions"], b["states"]))
    except ImportError:
        notes.append("kinodb skipped: its wheel is not installed (pip install ../shared/peers/kinodb/kinodb-*.whl)")
    return out


def timed_pass(make, get, workers: int, samples: int, src) -> dict:
    """One pass of ``samples`` shuffled samples through a new dataset and DataLoader; the first batch checked."""
    import torch
    from torch.utils.data import DataLoader, Subset

    t0 = time.perf_counter()
    ds = make()
    ids = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:samples]
    loader = DataLoader(Subset(ds, ids.tolist()), BATCH, shuffle=False, num_workers=workers)
    n, first = 0, None
    for k, batch in enumerate(loader):
        if k == 0:
            first = time.perf_counter() - t0
            acts, states = get(batch)
            want = truth(src, ids[:BATCH].numpy())
            assert np.array_equal(np.asarray(acts), want[0]) and np.array_equal(np.asarray(states), want[1])
        n += len(get(batch)[0])
    return {"samples_per_s": n / (time.perf_counter() - t0), "first_batch_s": first, "samples": n}


def kinonb_loader_pass(path: Path, samples: int, src) -> dict:
    from kinonb.torch import KinoDataset, Loader

    t0 = time.perf_counter()
    ds = KinoDataset(path, windows={"actions": range(SEQ), "states": [0]}, actions_only=True)
    n, first = 0, None
    for batch in Loader(ds, BATCH, shuffle=True, seed=0):
        if first is None:
            first = time.perf_counter() - t0
        n += len(batch["actions"])
        if n >= samples:
            break
    check = Loader(ds, BATCH, shuffle=False)
    batch = next(iter(check))
    want = truth(src, np.arange(len(batch["actions"])))
    assert np.array_equal(batch["actions"].numpy(), want[0]) and np.array_equal(batch["states"][:, 0].numpy(), want[1])
    return {"samples_per_s": n / (time.perf_counter() - t0), "first_batch_s": first, "samples": n}


LEROBOT = """
import json, sys, time, numpy as np, torch
from torch.utils.data import DataLoader, Subset
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, fps, seq, batch, samples = sys.argv[1], float(sys.argv[2]), *map(int, sys.argv[3:6])
def make():
    return LeRobotDataset(repo_id="local/x", root=root, delta_timestamps={
        "action": [k / fps for k in range(seq)], "observation.state": [0.0]})
out = {}
for workers in json.loads(sys.argv[6]):
    for run in (("timed",) if sys.argv[7] == "cold" else ("warm-up", "timed")):  # cold: no pass may warm it
        t0 = time.perf_counter()
        ds = make()
        ids = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:samples].tolist()
        n, first, check = 0, None, None
        for b in DataLoader(Subset(ds, ids), batch, num_workers=workers):
            if first is None:
                first = time.perf_counter() - t0
                check = {"ids": ids[:8], "action": b["action"][:8].tolist(),
                         "state": b["observation.state"][:8, 0].tolist()}
            n += len(b["action"])
        out[str(workers)] = {"samples_per_s": n / (time.perf_counter() - t0), "first_batch_s": first, "samples": n,
                             "check": check}
print(json.dumps(out))
"""


def lerobot_rows(python: str, folder: Path, samples: int, src, workers, regime: str) -> tuple[dict, str]:
    if not python or not Path(python).is_file():
        return {}, f"LeRobot skipped: no Python with lerobot at {python!r}"
    r = subprocess.run([python, "-c", LEROBOT, str(folder), str(FPS), str(SEQ), str(BATCH), str(samples),
                        json.dumps(list(workers)), regime], capture_output=True, text=True, timeout=3600,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if r.returncode:
        return {}, f"LeRobot skipped: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}"
    got = json.loads(r.stdout.strip().splitlines()[-1])
    for w, row in got.items():
        want = truth(src, np.array(row["check"]["ids"]))
        assert np.array_equal(np.array(row["check"]["action"], np.float32), want[0]), "LeRobot actions differ"
        assert np.array_equal(np.array(row["check"]["state"], np.float32), want[1]), "LeRobot states differ"
    return got, ""


def evict_all(paths: dict) -> None:
    for p in paths.values():
        for f in ([p] if p.is_file() else [q for q in p.rglob("*") if q.is_file()]):
            evict(f)


EPISODE_OPTIONS = {"image_key": "front", "image_size": (96, 96)}


def episode_mode(kino: Path, tmp: Path, episodes: int) -> tuple[list[dict], str]:
    """kinodb's own training path against kinonb's drop-in: ``KinoDataset(path, image_key, image_size)`` (whole
    episodes, one camera resized), ``DataLoader(batch_size=8, shuffle=True)``, one epoch after a warm-up one, on a
    ``.kdb`` kinodb wrote with two 64x64 raw cameras; kinonb also on that file ingested to ``.knb``."""
    try:
        import kinodb.torch as kinodb_torch
    except ImportError:
        return [], "episode mode skipped: kinodb's wheel is not installed"
    if not kino.is_file():
        return [], f"episode mode skipped: no kino at {kino}"
    import torch
    from torch.utils.data import DataLoader

    import kinonb.torch as kinonb_torch
    from kinonb.interop.ingest.kdb import ingest_kdb

    kdb, knb = tmp / "episodes.kdb", tmp / "episodes.knb"
    subprocess.run([str(kino), "create-test", str(kdb), "-n", str(episodes), "--images"], check=True,
                   capture_output=True)
    ingest_kdb(kdb, knb)
    made = {"kinodb.torch.KinoDataset on .kdb": lambda: kinodb_torch.KinoDataset(str(kdb), **EPISODE_OPTIONS),
            "kinonb.torch.KinoDataset on the same .kdb": lambda: kinonb_torch.KinoDataset(kdb, **EPISODE_OPTIONS),
            "kinonb.torch.KinoDataset on .knb": lambda: kinonb_torch.KinoDataset(knb, **EPISODE_OPTIONS)}
    want = next(iter(DataLoader(made["kinodb.torch.KinoDataset on .kdb"](), batch_size=8)))
    rows = []
    for name, make in made.items():
        got = next(iter(DataLoader(make(), batch_size=8)))
        assert torch.equal(got["action"], want["action"]) and got["image"].shape == want["image"].shape, name
        assert (got["image"] - want["image"]).abs().max() <= 1 / 255 + 1e-6, name  # nearest resize, same pixels
        for workers in (0, 2):
            ds = make()
            epoch = lambda: sum(len(b["action"]) for b in DataLoader(ds, batch_size=8, shuffle=True,
                                                                     num_workers=workers))
            epoch()  # warm-up: page cache, JIT, worker start
            t0 = time.perf_counter()
            n = epoch()
            rows.append({"loader": name, "workers": workers, "episodes_per_s": n / (time.perf_counter() - t0)})
    return rows, ""


def disk_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def robomimic_source(path: Path) -> Source:
    """A robomimic HDF5's demos (``actions``, ``obs/state``) in robomimic's own order (demo number)."""
    import h5py

    with h5py.File(path, "r") as f:
        names = sorted(f["data"], key=lambda k: int(k.split("_")[-1]))
        actions = [np.asarray(f["data"][k]["actions"], np.float32) for k in names]
        states = [np.asarray(f["data"][k]["obs"]["state"], np.float32) for k in names]
    return Source(path.parent.name, actions, states, None, {"kind": f"robomimic HDF5 {path}"})


def build(tmp: Path, src: Source):
    from kinonb.interop.kdb_writer import write_kdb
    from kinonb.ops.export_lerobot import export_lerobot

    src.fps = FPS
    paths = {"knb": tmp / "d.knb", "hdf5": tmp / "d.hdf5", "kdb": tmp / "d.kdb", "lerobot": tmp / "lerobot"}
    write_knb(src, paths["knb"])
    write_hdf5(src, paths["hdf5"])
    write_kdb(paths["kdb"], [{"actions": a, "states": s, "meta": {"fps": FPS}} for a, s in zip(src.actions,
                                                                                                 src.states)])
    export_lerobot(paths["knb"], paths["lerobot"])
    return paths


def run(src: Source, samples: int, lerobot_python: str, tmp: Path) -> dict:
    paths = build(tmp, src)
    rows, notes = {}, []
    total = int(src.lengths.sum())
    for regime, cold in (("warm", False), ("cold", True)):
        if cold:
            evict_all(paths)
        else:
            kinonb_loader_pass(paths["knb"], total, src)
        rows[("kinonb Loader (threads)", 0, regime)] = kinonb_loader_pass(paths["knb"], total, src)
        for name, (make, get) in datasets(paths, src.lengths, notes if not cold else []).items():
            for workers in ((0,) if cold else (0, 2)):
                n = total if name.startswith("kinonb") or name.endswith("'all'") else min(total, samples)
                if cold:
                    evict_all(paths)  # every cold row starts from evicted files
                else:
                    timed_pass(make, get, workers, min(n, 4 * BATCH), src)
                rows[(name, workers, regime)] = timed_pass(make, get, workers, n, src)
    for regime, workers in (("warm", (0, 2)), ("cold", (0,))):
        if regime == "cold":
            evict_all(paths)
        got, note = lerobot_rows(lerobot_python, paths["lerobot"], min(total, samples), src, workers, regime)
        if note and note not in notes:
            notes.append(note)
        for w, row in got.items():
            rows[("LeRobot LeRobotDataset", int(w), regime)] = row
    return {"source": src.description["kind"], "episodes": len(src.actions), "samples": total,
            "state_dim": src.state_dim, "disk_mb": {k: disk_bytes(p) / 1e6 for k, p in paths.items()},
            "rows": [{"loader": k[0], "workers": k[1], "regime": k[2], **v} for k, v in rows.items()], "notes": notes}


def report(r: dict) -> str:
    base = {row["regime"]: row["samples_per_s"] for row in r["rows"] if row["loader"] == "kinonb Loader (threads)"}
    lines = [f"## The real peers, {r['source']}: {r['episodes']:,} episodes, {r['samples']:,} frames, "
             f"{r['state_dim']}-d states; BC windows (actions t..t+15, state t), batch {BATCH}", "",
             "| loader | workers | regime | samples/s | first batch s | kinonb Loader x |",
             "|---|---:|---|---:|---:|---:|"]
    for row in r["rows"]:
        lines.append(f"| {row['loader']} | {row['workers']} | {row['regime']} | {row['samples_per_s']:,.0f} | "
                     f"{row['first_batch_s']:.3f} | {base[row['regime']] / row['samples_per_s']:,.1f}x |")
    lines += ["", "Bytes on disk: " + ", ".join(f"{k} {v:,.1f} MB" for k, v in r["disk_mb"].items())]
    if r.get("episode_rows"):
        peer = {row["workers"]: row["episodes_per_s"] for row in r["episode_rows"]
                if row["loader"].startswith("kinodb")}
        lines += ["", "## Whole episodes with a camera, kinodb's own API (`KinoDataset(path, image_key='front', "
                  "image_size=(96, 96))`, batch 8)", "", "| loader | workers | episodes/s | vs kinodb |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {row['loader']} | {row['workers']} | {row['episodes_per_s']:,.1f} | "
                  f"{row['episodes_per_s'] / peer[row['workers']]:.2f}x |" for row in r["episode_rows"]]
    lines += [f"- {n}" for n in r["notes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=500)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--samples", type=int, default=8192, help="samples per timed pass of the slow loaders")
    ap.add_argument("--quick", action="store_true", help="50 episodes, 2,048 samples for the slow loaders")
    ap.add_argument("--lerobot-python", default=LEROBOT_PYTHON)
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    ap.add_argument("--hdf5", type=Path, help="a robomimic HDF5 (actions, obs/state) to read instead of the "
                    "synthetic set, e.g. ../shared/datasets/robomimic_hdf5_robocore_scripted/lift_ph/low_dim.hdf5")
    args = ap.parse_args(argv)
    episodes, samples = (50, 2048) if args.quick else (args.episodes, args.samples)
    src = robomimic_source(args.hdf5) if args.hdf5 else synthetic_source(episodes, args.frames, 7, 32)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-peers-") as tmp:
        r = run(src, samples, args.lerobot_python, Path(tmp))
        r["episode_rows"], note = episode_mode(KINO, Path(tmp), max(8, min(episodes, 200)))
        r["notes"] += [note] if note else []
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
