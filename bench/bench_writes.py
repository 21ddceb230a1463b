"""Many small episodes (issue 18 req 4): kinodb's ``kino create-test`` against ``Writer.add_episodes`` and the
``add_episode`` loop, on the episodes kinodb generates (50 frames: action 7 x f32, state 6 x f32, reward f32,
is_terminal bool; 6 tasks, 4 embodiments, fps 10, success, total_reward).

    python -m bench.bench_writes [--quick] [--episodes 1000000] [--loop-episodes 100000] [--kino PATH]

kinodb (the real peer, ``../shared/peers/kinodb/kino``; the row is skipped when it is absent) generates its data
inside the timed command; kinonb's arrays are generated first and that time is printed apart, as is the first
call's JIT load. kinonb rows: the defaults (``sync=True``: fsynced commits, auto-commit every 64 MiB, so a crash
loses at most that), and ``sync=False, autocommit_bytes=None`` (one commit at close, not fsynced: what kinodb's
writer does); and ``ingest_kdb`` of a ``.kdb`` kino wrote (its reading included). Rates are episodes/s and MB/s of the file written; ratios against kinodb's rate in this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import kinonb

ROOT = Path(__file__).resolve().parents[1]
KINO = ROOT.parent / "shared" / "peers" / "kinodb" / "kino"
FRAMES = 50


def data(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    t = n * FRAMES
    done = np.zeros(t, bool)
    done[FRAMES - 1 :: FRAMES] = True
    tasks = np.array([f"task {i}" for i in range(6)])
    return dict(lengths=np.full(n, FRAMES), actions=rng.standard_normal((t, 7), np.float32),
                states=rng.standard_normal((t, 6), np.float32), rewards=rng.standard_normal(t, np.float32),
                is_terminal=done, task=tasks[rng.integers(0, 6, n)].tolist(),
                embodiment=np.array(["aloha", "franka", "ur5", "widowx"])[np.arange(n) % 4].tolist(), fps=10.0,
                success=rng.random(n) < 2 / 3, total_reward=rng.random(n))


def kino_row(kino: Path, n: int, tmp: Path):
    if not kino.is_file():
        return None, f"skipped: no kino at {kino}"
    out = tmp / "k.kdb"
    t0 = time.perf_counter()
    subprocess.run([str(kino), "create-test", str(out), "-n", str(n), "-f", str(FRAMES)], check=True,
                   capture_output=True)
    seconds = time.perf_counter() - t0
    size = out.stat().st_size
    out.unlink()
    return (seconds, size), ""


def batch_row(d: dict, tmp: Path, **options) -> tuple[float, int]:
    path = tmp / "b.knb"
    t0 = time.perf_counter()
    with kinonb.create(path, overwrite=True, **options) as w:
        w.add_episodes(**d)
    seconds = time.perf_counter() - t0
    size = path.stat().st_size
    path.unlink()
    return seconds, size


def loop_row(d: dict, n: int, tmp: Path, **options) -> tuple[float, int]:
    path = tmp / "l.knb"
    t0 = time.perf_counter()
    with kinonb.create(path, overwrite=True, **options) as w:
        for i in range(n):
            rows = slice(i * FRAMES, (i + 1) * FRAMES)
            w.add_episode(d["actions"][rows], d["states"][rows], d["rewards"][rows], d["is_terminal"][rows],
                          task=d["task"][i], embodiment=d["embodiment"][i], fps=10.0, success=bool(d["success"][i]),
                          total_reward=float(d["total_reward"][i]))
    seconds = time.perf_counter() - t0
    size = path.stat().st_size
    path.unlink()
    return seconds, size


def ingest_row(kino: Path, n: int, tmp: Path) -> tuple[float, int]:
    """``ingest_kdb`` of a file kino wrote: its small low-dim episodes are staged by add_episode and written in
    batches (kinonb/store/small_episodes.py)."""
    import warnings

    from kinonb.interop.ingest.kdb import ingest_kdb

    src, out = tmp / "src.kdb", tmp / "i.knb"
    subprocess.run([str(kino), "create-test", str(src), "-n", str(n), "-f", str(FRAMES)], check=True,
                   capture_output=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_kdb(src, out)
    seconds = time.perf_counter() - t0
    size = out.stat().st_size
    src.unlink()
    out.unlink()
    return seconds, size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1_000_000)
    ap.add_argument("--loop-episodes", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="100K episodes in the batch rows, 20K in the loop")
    ap.add_argument("--kino", type=Path, default=KINO)
    args = ap.parse_args(argv)
    n, n_loop = (100_000, 20_000) if args.quick else (args.episodes, min(args.loop_episodes, args.episodes))
    tmp = Path(tempfile.mkdtemp(prefix="kinonb-bench-writes-", dir=os.environ.get("KINONB_BENCH_TMP")))
    try:
        t0 = time.perf_counter()
        d = data(n)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        with kinonb.create(tmp / "warm.knb") as w:  # JIT load of the batch kernels, reported apart
            w.add_episodes(**data(2, seed=1))
        jit = time.perf_counter() - t0
        print(f"## Writing {n:,} episodes x {FRAMES} frames (the add_episode loop: {n_loop:,})\n")
        print(f"kinonb's arrays generated in {gen:.2f} s (not in its rows); first add_episodes call (JIT load) "
              f"{jit:.2f} s\n")
        print("| writer | episodes | seconds | episodes/s | MB/s | file MB | rate vs kinodb |\n"
              "|---|---:|---:|---:|---:|---:|---:|")
        rows = []
        kino, why = kino_row(args.kino, n, tmp)
        if kino:
            rows.append(("kinodb `kino create-test` (generates its data in the timed run)", n, *kino))
        sub = {k: v[: n_loop * FRAMES] if k in ("actions", "states", "rewards", "is_terminal") else
               (v[:n_loop] if not isinstance(v, float) else v) for k, v in d.items()}
        rows.append(("kinonb add_episodes, defaults (fsynced commits, auto-commit 64 MiB)", n, *batch_row(d, tmp)))
        rows.append(("kinonb add_episodes, sync=False, autocommit_bytes=None", n,
                     *batch_row(d, tmp, sync=False, autocommit_bytes=None)))
        rows.append(("kinonb add_episode loop, defaults", n_loop, *loop_row(sub, n_loop, tmp)))
        rows.append(("kinonb add_episode loop, sync=False, autocommit_bytes=None", n_loop,
                     *loop_row(sub, n_loop, tmp, sync=False, autocommit_bytes=None)))
        if args.kino.is_file():
            rows.append((f"kinonb ingest of kino's {n_loop:,}-episode .kdb (reads it too)", n_loop,
                         *ingest_row(args.kino, n_loop, tmp)))
        peer = n / kino[0] if kino else None
        for label, count, seconds, size in rows:
            rate = count / seconds
            ratio = f"{rate / peer:.2f}x" if peer else ""
            print(f"| {label} | {count:,} | {seconds:.2f} | {rate:,.0f} | {size / seconds / 1e6:,.0f} | "
                  f"{size / 1e6:,.0f} | {ratio} |")
        if why:
            print(f"\nkinodb row {why}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
