"""Threads against worker processes: ``kinonb.torch.Loader`` vs ``DataLoader(num_workers=N)`` on window batches.

    python -m bench.bench_loader [--quick] [--json PATH|-]

A synthetic low-dim file (default 2,000 episodes x 200 frames, 7-d actions, 32-d states) read as BC windows
(states ``range(-1, 1)``, actions ``range(16)``), batch 256, ``--batches`` batches after the first 40, no model:
the data rate alone. Loaders:

- ``DataLoader workers=0`` / ``workers=2``: ``KinoMapDataset`` with the default collate (batches assembled by
  ``__getitems__``; with workers each batch comes back through shared memory).
- ``Loader threads=0/1/2``: the thread loader (0 reads in the loop's own thread).

Each is measured on a quiet machine and again with a competing load (one busy-looping process per core minus
one), median of ``--runs`` interleaved runs; the first run of each is a warm-up. Ratios are to ``DataLoader
workers=0`` in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import competing_load

WINDOWS = {"states": range(-1, 1), "actions": range(16)}
WARM_BATCHES = 40


def write_dataset(path: Path, episodes: int, frames: int) -> None:
    import kinonb

    rng = np.random.default_rng(0)
    n = episodes * frames
    with kinonb.create(path, sync=False) as w:
        w.add_episodes(lengths=np.full(episodes, frames), actions=rng.standard_normal((n, 7)).astype(np.float32),
                       states=rng.standard_normal((n, 32)).astype(np.float32), task="bc")


def loaders(path, batch: int) -> dict:
    from torch.utils.data import DataLoader

    from kinonb.torch import KinoMapDataset, Loader

    ds = KinoMapDataset(path, windows=WINDOWS, actions_only=True)
    return {
        "DataLoader workers=0": lambda: DataLoader(ds, batch_size=batch, shuffle=True),
        "DataLoader workers=2": lambda: DataLoader(ds, batch_size=batch, shuffle=True, num_workers=2,
                                                   persistent_workers=False),
        "Loader threads=0": lambda: Loader(ds, batch, threads=0),
        "Loader threads=1": lambda: Loader(ds, batch, threads=1),
        "Loader threads=2": lambda: Loader(ds, batch, threads=2),
    }


def rate(make, batches: int) -> float:
    """Samples per second over ``batches`` batches once the loader runs (its first batches, which start workers
    or threads, are not timed: ``start_s`` in the output reports that start apart)."""
    it = iter(make())
    for _ in range(WARM_BATCHES):
        next(it)
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(it)["actions"])
    return n / (time.perf_counter() - start)


def measure(path, batch: int, batches: int, runs: int, busy: bool) -> dict:
    makes = loaders(path, batch)
    with competing_load(busy):
        for make in makes.values():  # warm-up: compilation, page cache, worker imports
            rate(make, min(batches, 20))
        samples = {name: [] for name in makes}
        for _ in range(runs):
            for name, make in makes.items():
                samples[name].append(rate(make, batches))
    return {name: statistics.median(v) for name, v in samples.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller file, fewer batches and runs (about a minute)")
    ap.add_argument("--batches", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--json", default=None, help="write the figures as JSON to PATH ('-': stdout)")
    args = ap.parse_args(argv)
    episodes, frames = (600, 200) if args.quick else (2000, 200)
    batches = args.batches or (150 if args.quick else 1000)
    runs = args.runs or (3 if args.quick else 5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bc.knb"
        write_dataset(path, episodes, frames)
        result = {"episodes": episodes, "frames": frames, "batch": 256, "batches": batches, "runs": runs}
        for regime, busy in (("quiet", False), ("busy", True)):
            figures = measure(path, 256, batches, runs, busy)
            base = figures["DataLoader workers=0"]
            result[regime] = {name: {"samples_per_s": r, "ratio": r / base} for name, r in figures.items()}
    if args.json == "-":
        json.dump(result, sys.stdout, indent=1)
    else:
        for regime in ("quiet", "busy"):
            print(f"\n{regime} machine ({episodes} x {frames} frames, batch 256, {batches} batches, median of {runs})")
            for name, f in result[regime].items():
                print(f"  {name:24s} {f['samples_per_s'] / 1e6:7.3f} M samples/s   {f['ratio']:5.2f}x workers=0")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
