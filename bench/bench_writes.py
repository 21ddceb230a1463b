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

from .report import print_and_save

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
    """``ingest_kdb`` of a file kino wrote: its low-dim episodes are gathered in bulk and written by
    add_episodes (kinonb/interop/ingest/kdb.py)."""
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


def run(kino: Path, episodes: int, loop_episodes: int, tmp: Path) -> dict:
    """Every row, timed in this process: {"kinodb": {episodes, seconds, bytes} or None, "rows": [{label,
    episodes, seconds, bytes, loop}], "generate_s", "jit_s", "notes"}; ``loop`` rows are add_episode loops."""
    n, n_loop = episodes, min(loop_episodes, episodes)
    t0 = time.perf_counter()
    d = data(n)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    with kinonb.create(tmp / "warm.knb") as w:  # JIT load of the batch kernels, reported apart
        w.add_episodes(**data(2, seed=1))
    jit = time.perf_counter() - t0
    out = {"kinodb": None, "rows": [], "generate_s": gen, "jit_s": jit, "notes": []}
    peer, why = kino_row(kino, n, tmp)
    if peer:
        out["kinodb"] = {"episodes": n, "seconds": peer[0], "bytes": peer[1]}
    else:
        out["notes"].append(f"kinodb write row {why}")
    sub = {k: v[: n_loop * FRAMES] if k in ("actions", "states", "rewards", "is_terminal") else
           (v[:n_loop] if not isinstance(v, float) else v) for k, v in d.items()}

    def row(label, count, timed, loop=False):
        seconds, size = timed
        out["rows"].append({"label": label, "episodes": count, "seconds": seconds, "bytes": size, "loop": loop})

    row("add_episodes, defaults (fsynced commits, auto-commit 64 MiB)", n, batch_row(d, tmp))
    row("add_episodes, sync=False, autocommit_bytes=None", n, batch_row(d, tmp, sync=False, autocommit_bytes=None))
    row("add_episode loop, defaults", n_loop, loop_row(sub, n_loop, tmp), loop=True)
    row("add_episode loop, sync=False, autocommit_bytes=None", n_loop,
        loop_row(sub, n_loop, tmp, sync=False, autocommit_bytes=None), loop=True)
    if kino.is_file():
        row(f"ingest of kino's {n_loop:,}-episode .kdb (reads it too)", n_loop, ingest_row(kino, n_loop, tmp))
    return out


def report(r: dict) -> str:
    n = max(row["episodes"] for row in r["rows"])
    lines = [f"## Writing up to {n:,} episodes x {FRAMES} frames", "",
             f"kinonb's arrays generated in {r['generate_s']:.2f} s (not in its rows); first add_episodes call "
             f"(JIT load) {r['jit_s']:.2f} s", "",
             "| writer | episodes | seconds | episodes/s | MB/s | file MB | rate vs kinodb |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    peer = r["kinodb"]
    rows = ([dict(peer, label="kinodb `kino create-test` (generates its data in the timed run)")] if peer else [])
    peer_rate = peer["episodes"] / peer["seconds"] if peer else None
    for row in rows + [dict(x, label=f"kinonb {x['label']}") for x in r["rows"]]:
        rate = row["episodes"] / row["seconds"]
        ratio = f"{rate / peer_rate:.2f}x" if peer_rate else ""
        lines.append(f"| {row['label']} | {row['episodes']:,} | {row['seconds']:.2f} | {rate:,.0f} | "
                     f"{row['bytes'] / row['seconds'] / 1e6:,.0f} | {row['bytes'] / 1e6:,.0f} | {ratio} |")
    lines += [f"\n{note}" for note in r["notes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1_000_000)
    ap.add_argument("--loop-episodes", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="100K episodes in the batch rows, 20K in the loop")
    ap.add_argument("--kino", type=Path, default=KINO)
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    n, n_loop = (100_000, 20_000) if args.quick else (args.episodes, args.loop_episodes)
    tmp = Path(tempfile.mkdtemp(prefix="kinonb-bench-writes-", dir=os.environ.get("KINONB_BENCH_TMP")))
    try:
        r = run(args.kino, n, n_loop, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
