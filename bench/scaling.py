"""Open time and KQL time against the number of episodes (1K, 10K, 100K, 1M short low-dim episodes).

    python -m bench.scaling [--sizes 1000,10000] [--dir DIR]

Each file holds episodes of 2..8 frames of 7-d actions, with varied metadata (50 tasks, 5 embodiments,
success, total_reward). Per size: open with a warm page cache, open after evicting the file, the first query
after open (which builds the metadata table), and each query once the table exists; medians of >= 5 runs
after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_query import EMBODIMENTS, TASKS
from .e2e import evict

QUERIES = {
    "numeric": "num_frames > 4",
    "3 conditions": "embodiment = 'franka' AND success = true AND num_frames > 4",
    "contains": "task CONTAINS 'pick'",
}
MAIN_QUERY = "3 conditions"


def write_file(path, n: int, seed: int = 0) -> dict:
    """Write ``n`` short episodes; seconds and bytes."""
    import kinonb

    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, n)
    success = rng.random(n) < 0.6
    rewards = rng.random(n)
    tasks = rng.integers(0, len(TASKS), n)
    embodiments = rng.integers(0, len(EMBODIMENTS), n)
    actions = rng.standard_normal((8, 7)).astype(np.float32)
    t0 = time.perf_counter()
    with kinonb.create(path, overwrite=True, sync=False) as w:
        for i in range(n):
            w.add_episode(actions[:lengths[i]], task=TASKS[tasks[i]], embodiment=EMBODIMENTS[embodiments[i]],
                          fps=10.0, success=bool(success[i]), total_reward=float(rewards[i]))
    return {"path": str(path), "write_s": time.perf_counter() - t0, "bytes": Path(path).stat().st_size}


def write_files(directory, sizes) -> dict:
    """Every size's file (run in a background process while the other sources are built)."""
    return {n: write_file(Path(directory) / f"scaling_{n}.knb", n) for n in sizes}


def _median_ms(fn, runs: int, setup=None) -> dict:
    if setup:
        setup()
    fn()  # warm-up
    times = []
    for _ in range(runs):
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": runs}


def measure(files: dict, runs: int = 7, log=print) -> dict:
    import kinonb

    out = {}
    for n, info in sorted(files.items()):
        path = info["path"]
        r = {"episodes": n, "file_mb": info["bytes"] / 1e6, "write_s": info["write_s"]}
        r["open_warm"] = _median_ms(lambda: kinonb.open(path), runs)
        r["open_cold"] = _median_ms(lambda: kinonb.open(path), runs, setup=lambda: evict([path]))

        state = {}

        def fresh():
            state["db"] = kinonb.open(path)

        r["first_query"] = _median_ms(lambda: state["db"].query_positions(QUERIES[MAIN_QUERY]), runs, setup=fresh)
        db = kinonb.open(path)
        r["queries"] = {}
        for name, text in QUERIES.items():
            q = _median_ms(lambda: db.query_positions(text), runs)
            q["as_list"] = _median_ms(lambda: db.query(text), runs)["median_ms"]
            q["hits"] = len(db.query_positions(text))
            q["text"] = text
            r["queries"][name] = q
        out[str(n)] = r
        log(f"    {n:>9,} episodes ({r['file_mb']:7.1f} MB, written in {r['write_s']:6.1f} s): open "
            f"{r['open_warm']['median_ms']:7.3f} ms warm, {r['open_cold']['median_ms']:7.3f} ms cold; first query "
            f"{r['first_query']['median_ms']:8.2f} ms; KQL " + ", ".join(
                f"{k} {q['median_ms']:.2f} ms" for k, q in r["queries"].items()))
    sizes = sorted(out, key=int)
    if len(sizes) > 1:
        small, big = out[sizes[0]], out[sizes[-1]]
        out["open_ratio_largest_to_smallest"] = big["open_warm"]["median_ms"] / small["open_warm"]["median_ms"]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--dir", type=Path, help="where to write the files (default: a temp dir)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        files = write_files(tmp, sizes)
        result = measure(files)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
