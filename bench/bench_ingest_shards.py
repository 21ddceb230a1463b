"""Sharded ingest (issue 17 req 3): episodes/s of ``ingest_shards`` with 1 and 2 worker processes against the
single-file ``ingest`` of the same source, in the same run.

    python -m bench.bench_ingest_shards [--quick] [--episodes 400] [--shards 4] [--json PATH]

Sources (written first, not timed): a robomimic-style HDF5 file whose demos hold a 64x64 RGB camera (stored
as JPEG: the encoding is CPU work a second worker shares) and a folder of low-dim per-episode ``.npz`` files
(little work per episode: what sharding costs shows). Each figure is the median of ``--repeats`` runs.
Each row is timed from the call to its return: counting the source, the plan, starting the workers (a first
call in a process starts the forkserver, which imports kinonb; the workers' first kernel calls are included),
writing and renaming every shard and the manifest. Rates are source episodes per second; "vs single" is the
rate against the single-file ingest of that source. The machine's free cores bound what 2 workers can gain.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from kinonb.interop.ingest import ingest
from kinonb.interop.ingest.shards import ingest_shards

from .report import print_and_save

FRAMES = 50


def hdf5_source(path: Path, n: int, seed: int = 0) -> Path:
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "env_kwargs": {"robots": ["Panda"],
                                                                               "control_freq": 20}})
        for i in range(n):
            g = data.create_group(f"demo_{i}")
            g["actions"] = rng.normal(size=(FRAMES, 7)).astype(np.float32)
            g["rewards"] = np.zeros(FRAMES)
            g["dones"] = (np.arange(FRAMES) == FRAMES - 1).astype(np.int64)
            g["obs/joint_pos"] = rng.normal(size=(FRAMES, 7))
            base = rng.integers(0, 200, (1, 64, 64, 3))
            g["obs/agentview_image"] = (base + rng.integers(0, 40, (FRAMES, 64, 64, 3))).astype(np.uint8)
    return path


def npz_source(root: Path, n: int, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir()
    for i in range(n):
        np.savez(root / f"ep_{i}.npz", actions=rng.normal(size=(FRAMES, 7)).astype(np.float32),
                 states=rng.normal(size=(FRAMES, 32)).astype(np.float32), rewards=np.zeros(FRAMES, np.float32))
    return root


def timed(fn, repeats: int) -> float:
    """The median of ``repeats`` timed calls (the machine may be shared: one slow run does not decide)."""
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return float(np.median(seconds))


def run(episodes: int, shards: int, tmp: Path, repeats: int = 3) -> dict:
    """Every row, timed in this process: {"sources": [{name, episodes, rows: [{label, seconds}]}], "cpus",
    "shards", "repeats"}."""
    out = {"cpus": os.cpu_count(), "shards": shards, "repeats": repeats, "sources": []}
    built = [("hdf5, 64x64 camera stored jpeg", hdf5_source(tmp / "s.hdf5", episodes), dict(compression="jpeg")),
             ("npz folder, low-dim", npz_source(tmp / "npz", episodes * 4), {})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest(built[1][1], tmp / "warm.knb")  # the first call's JIT load, kept out of every row
        for name, src, options in built:
            n = len(list(src.iterdir())) if src.is_dir() else episodes
            rows = [("single-file ingest",
                     timed(lambda: ingest(src, tmp / "one.knb", overwrite=True, **options), repeats))]
            for workers in (1, 2):
                folder = tmp / f"ds{workers}"
                rows.append((f"ingest_shards, {shards} shards, workers={workers}",
                             timed(lambda: ingest_shards(src, folder, shards=shards, workers=workers, overwrite=True,
                                                         **options), repeats)))
                shutil.rmtree(folder)
            out["sources"].append({"name": name, "episodes": n,
                                   "rows": [{"label": label, "seconds": s} for label, s in rows]})
    return out


def report(r: dict) -> str:
    lines = [f"## Sharded ingest ({r['shards']} shards) against single-file ingest, {r['cpus']} CPU cores "
             f"(medians of {r['repeats']} runs)", "",
             "| source | episodes | ingest | seconds | episodes/s | vs single |", "|---|---:|---|---:|---:|---:|"]
    for s in r["sources"]:
        single = s["episodes"] / s["rows"][0]["seconds"]
        for row in s["rows"]:
            rate = s["episodes"] / row["seconds"]
            lines.append(f"| {s['name']} | {s['episodes']:,} | {row['label']} | {row['seconds']:.2f} | {rate:,.0f} "
                         f"| {rate / single:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=400, help="HDF5 demos (the npz folder holds 4x as many)")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (the median is shown)")
    ap.add_argument("--quick", action="store_true", help="100 demos, 1 run per row")
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-shards-", dir=os.environ.get("KINONB_BENCH_TMP")) as tmp:
        r = run(100 if args.quick else args.episodes, args.shards, Path(tmp), 1 if args.quick else args.repeats)
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
