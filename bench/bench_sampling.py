"""Sampling benchmarks for issue 13: the fixed-width path before/after, mixed widths and multi-rate batches.

    python -m bench.bench_sampling [--quick] [--old-rev REV]

(a) fixed width: ``db.sample_index({"actions": range(16)}).read(ids, out=...)``, B=256, A=7 float32, 1000 x 200
    frames, in this tree and in a checkout of ``--old-rev`` (default: the commit before the sampling branch),
    each in its own interpreter (cwd=/tmp, PYTHONPATH=that tree), rounds alternating, same file, same ids.
(b) mixed widths (7 and 14 per episode, padded to 14 with a mask) and (c) multi-rate (a 200 Hz stream under
    10 Hz frames: stream windows anchored latest-at; ``rate=`` grids), each against the in-RAM ceiling: the
    fixed-width kernel gathering the same elements from an in-RAM array already laid out at the output width.
Every figure is the median of several runs after a warm-up call; the first call (JIT, or loading the Numba
cache) is reported apart.
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

from .bench_kernels import interleaved, table

ROOT = Path(__file__).resolve().parents[1]
E, L, A, B, W = 1000, 200, 7, 256, 16

FIXED = r"""
import json, sys, time
import numpy as np
import kinonb
path, n_batches, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
index = kinonb.open(path).sample_index({"actions": range(16)})
rng = np.random.default_rng(1)
batches = [rng.integers(0, len(index), 256) for _ in range(n_batches)]
out = {"actions": np.empty((256, 16, 7), np.float32)}
t = time.perf_counter(); index.read(batches[0], out=out); first = time.perf_counter() - t
times = []
for _ in range(runs):
    t = time.perf_counter()
    for ids in batches:
        index.read(ids, out=out)
    times.append(time.perf_counter() - t)
print(json.dumps({"first": first, "rate": n_batches / float(np.median(times)), "best": n_batches / min(times)}))
"""


def old_tree(rev: str, tmp: Path) -> Path:
    tree = tmp / "old"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "kinonb"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def fixed_bench(tmp: Path, rev: str, rounds: int, n_batches: int, runs: int) -> dict:
    """(a) the same script under the old and the new tree, rounds alternating."""
    trees = {"before (" + rev[:10] + ")": old_tree(rev, tmp), "after (this tree)": ROOT}
    path = tmp / "fixed.knb"
    write = ("import numpy as np, kinonb, sys\nrng = np.random.default_rng(0)\n"
             "with kinonb.create(sys.argv[1], sync=False) as w:\n    for e in range(1000):\n"
             "        w.add_episode(actions=rng.standard_normal((200, 7)).astype(np.float32))\n")
    env_old = dict(os.environ, PYTHONPATH=str(trees[next(iter(trees))]))
    subprocess.run([sys.executable, "-c", write, str(path)], cwd="/tmp", env=env_old, check=True)
    results = {k: [] for k in trees}
    for _ in range(rounds):
        for label, tree in trees.items():
            env = dict(os.environ, PYTHONPATH=str(tree))
            proc = subprocess.run([sys.executable, "-c", FIXED, str(path), str(n_batches), str(runs)], cwd="/tmp",
                                  env=env, check=True, capture_output=True, text=True)
            results[label].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rates = {k: float(np.median([r["rate"] for r in v])) for k, v in results.items()}
    best = {k: float(max(r["best"] for r in v)) for k, v in results.items()}
    first = {k: float(np.median([r["first"] for r in v])) for k, v in results.items()}
    k0 = next(iter(trees))
    rows = [(k, f"{v:,.0f}", f"{v / rates[k0]:.3f}x", f"{best[k]:,.0f}", f"{best[k] / best[k0]:.3f}x",
             f"{first[k]:.2f}") for k, v in rates.items()]
    table(f"(a) fixed width B={B} W={W} A={A} float32, .knb file (page cache), {rounds} alternating rounds", rows,
          ("tree", "median batches/s", "vs before", "best batches/s", "vs before", "first batch s (import numba, "
           "load cache)"))
    return rates


def _ceiling(width: int, ids_list, index):
    """The in-RAM ceiling: gather_windows over an in-RAM (E*L, width) array, same (episode, frame) pairs."""
    from kinonb.kernels import gather_windows

    ram = np.random.default_rng(2).standard_normal(E * L * width).astype(np.float32)
    ep_start = np.arange(E, dtype=np.int64) * L * width
    lengths = np.full(E, L, np.int64)
    pairs = [(index._ep[ids], index._t[ids]) for ids in ids_list]
    out = np.empty((B, W, width), np.float32)
    pad = np.empty((B, W), np.bool_)

    def run():
        for se, st in pairs:
            gather_windows(ram, ep_start, lengths, width, se, st, np.arange(W, dtype=np.int64), out, pad)

    return run


def _reads(index, ids_list):
    def run():
        for ids in ids_list:
            index.read(ids)

    return run


def _first(index, ids) -> float:
    t = time.perf_counter()
    index.read(ids)
    return time.perf_counter() - t


def mixed_and_rate_bench(runs: int, n_batches: int) -> dict:
    """(b) mixed widths and (c) multi-rate batches, in-memory source, vs the in-RAM ceiling."""
    from kinonb.sampling.index import SampleIndex
    from kinonb.testing.fake_source import FakeSource

    rng = np.random.default_rng(0)
    eps = []
    for e in range(E):
        a = 7 if e % 2 else 14
        n = 20 * L  # 200 Hz under 10 Hz frames
        eps.append({"length": L, "fps": 10.0,
                    "columns": {"actions": rng.standard_normal((L, a)).astype(np.float32),
                                "fixed": rng.standard_normal((L, 14)).astype(np.float32)},
                    "streams": {"imu": (np.arange(n) / 200.0, rng.standard_normal((n, 14)).astype(np.float32))}})
    src = FakeSource(eps)
    cases = {
        "mixed widths 7/14 -> 14 + mask": SampleIndex(src, {"actions": range(W)}),
        "fixed width 14 (same source)": SampleIndex(src, {"fixed": range(W)}),
        "stream 200 Hz, latest-at anchors": SampleIndex(src, {"imu": range(-W + 1, 1)}),
        "rate=10 Hz grid, fixed 14": SampleIndex(src, {"fixed": range(W)}, rate=10.0),
        "rate=50 Hz grid, stream 14": SampleIndex(src, {"imu": range(-W + 1, 1)}, rate=50.0),
    }
    batches = {k: [np.random.default_rng(1).integers(0, len(ix), B) for _ in range(n_batches)]
               for k, ix in cases.items()}
    first = {k: _first(ix, batches[k][0]) for k, ix in cases.items()}
    fns = {k: _reads(ix, batches[k]) for k, ix in cases.items()}
    fns["in-RAM ceiling: gather_windows, width 14"] = _ceiling(14, batches["fixed width 14 (same source)"],
                                                               cases["fixed width 14 (same source)"])
    times = interleaved(fns, runs)
    rates = {k: n_batches / v for k, v in times.items()}
    ceiling = rates["in-RAM ceiling: gather_windows, width 14"]
    rows = [(k, f"{v:,.0f}", f"{1e6 / v:.1f}", f"{v / ceiling:.2f}x", f"{first.get(k, 0) * 1e3:.1f}")
            for k, v in rates.items()]
    table(f"(b, c) mixed widths and multi-rate, B={B} W={W}, in-memory source ({E} x {L} frames)", rows,
          ("case", "batches/s", "us/batch", "vs in-RAM ceiling", "first batch ms"))
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--old-rev", default="af395db", help="the tree to compare the fixed-width path against")
    args = parser.parse_args(argv)
    runs, n_batches = (5, 50) if args.quick else (9, 200)
    print(f"kinonb sampling bench (cpus={os.cpu_count()}, runs={runs}, median)")
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-") as d:
        fixed_bench(Path(d), args.old_rev, 4 if args.quick else 8, n_batches // 2, runs)
    mixed_and_rate_bench(runs, n_batches)


if __name__ == "__main__":
    main()
