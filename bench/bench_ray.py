"""Ray Data window samples (issue 17): ``kinonb.ray.read_knb`` against ``ray.data.read_parquet`` of the same rows.

    python -m bench.bench_ray [--quick] [--episodes N] [--runs R] [--cpus C] [--out PATH] [--json PATH|-]

Each row drains a dataset of window samples (actions ``t .. t+15`` and the state at ``t``; in the camera row also
a 64x64 camera frame at ``t``, lz4 or JPEG in the .knb file) through ``iter_batches(batch_size=256)`` on
``ray.init(num_cpus=C)`` (default 2), and reports rows/s per CPU (median of R runs, each a new dataset: planning
on the driver included). The Parquet peer reads the window samples themselves (the same rows, written once by
Ray's ``write_parquet`` from a kinonb read, snappy), so it builds no window: the most favourable layout for it.
Numba JIT stays out of the figures: one untimed pass of each dataset first (every worker compiles, or loads its
on-disk cache), and the driver's first-read compile time is reported apart. ``ray.data.read_lerobot`` is run
only where its ``lerobot`` package imports (see ``lerobot_status``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_remote import windows, write
from .report import print_and_save

BATCH = 256


def start_ray(cpus: int) -> bool:
    """Start a local Ray (127.0.0.1 only) unless one runs; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True


def drain(make) -> tuple[int, float, int]:
    """Rows, seconds and a checksum of the episode column for one pass over the dataset ``make()`` builds."""
    t0 = time.perf_counter()
    rows = check = 0
    for b in make().iter_batches(batch_size=BATCH, batch_format="numpy"):
        rows += len(b["episode"])
        check += int(b["episode"].sum()) + int(b["frame"].sum())
    return rows, time.perf_counter() - t0, check


def rate(make, runs: int, cpus: int) -> tuple[float, int, int, float]:
    """Median rows/s per CPU over ``runs`` timed passes after one untimed one; rows, checksum, untimed seconds."""
    rows, first_s, check = drain(make)
    times = []
    for _ in range(runs):
        n, s, c = drain(make)
        assert (n, c) == (rows, check), "a pass read other rows"
        times.append(s)
    return rows / statistics.median(times) / cpus, rows, check, first_s


def jit_seconds(path: Path, wins: dict) -> float:
    """The driver's first read of a batch minus its second: Numba compiling (or loading its cache)."""
    import kinonb

    index = kinonb.open(path).sample_index(wins)
    ids = np.arange(min(BATCH, len(index)), dtype=np.int64)
    t0 = time.perf_counter()
    index.read(ids)
    t1 = time.perf_counter()
    index.read(ids)
    return max(0.0, (t1 - t0) - (time.perf_counter() - t1))


def case(path: Path, camera: str | None, runs: int, cpus: int, tmp: Path) -> dict:
    import ray

    from kinonb.ray import read_knb

    wins = windows(camera is not None)
    jit = jit_seconds(path, wins)
    knb, rows, check, knb_first = rate(lambda: read_knb(path, windows=wins), runs, cpus)
    pq = tmp / f"windows-{camera or 'none'}"
    read_knb(path, windows=wins).write_parquet(str(pq))
    peer, peer_rows, peer_check, _ = rate(lambda: ray.data.read_parquet(str(pq)), runs, cpus)
    assert (peer_rows, peer_check) == (rows, check), "the Parquet copy holds other rows"
    return {"camera": camera or "none", "rows": rows, "knb_mb": path.stat().st_size / 1e6,
            "parquet_mb": sum(f.stat().st_size for f in pq.rglob("*.parquet")) / 1e6, "knb": knb, "parquet": peer,
            "jit_s": jit, "knb_first_pass_s": knb_first}


def lerobot_status() -> str | None:
    """None where ``ray.data.read_lerobot`` can run here, else why not."""
    try:
        import lerobot.datasets.dataset_metadata  # noqa: F401 - what read_lerobot imports to read a folder
    except ImportError as e:
        return (f"not run: read_lerobot needs the `lerobot` package ({e.__class__.__name__}: {e}); pip's resolver "
                f"picks lerobot 0.4.4 here, which would replace torch 2.13 with 2.10 (+ CUDA wheels), numpy with "
                f"2.2.6 and rerun-sdk with 0.26 (kinonb pins 0.41), so it is not installed beside kinonb")
    return None


def run(episodes: int, runs: int, tmp: Path, *, cpus: int = 2, cameras=(None, "lz4")) -> dict:
    import ray

    files = {}
    for camera in cameras:
        files[camera] = tmp / f"d-{camera}.knb"
        write(files[camera], episodes, camera)
    started = start_ray(cpus)
    try:
        cpus = int(ray.cluster_resources().get("CPU", cpus))
        rows = [case(path, camera, runs, cpus, tmp) for camera, path in files.items()]
    finally:
        if started:
            ray.shutdown()
    return {"episodes": episodes, "runs": runs, "cpus": cpus, "batch": BATCH, "rows": rows,
            "lerobot": lerobot_status() or "ran"}


#: The table's columns: header, cell format over a row's figures (``ratio``: read_knb / parquet).
TABLE = (("camera", "{camera}", "---"), ("rows", "{rows:,}", "---:"), (".knb MB", "{knb_mb:,.1f}", "---:"),
         ("Parquet MB", "{parquet_mb:,.1f}", "---:"), ("read_knb rows/s/CPU", "{knb:,.0f}", "---:"),
         ("read_parquet rows/s/CPU (window rows)", "{parquet:,.0f}", "---:"),
         ("read_knb / parquet", "{ratio:.2f}x", "---:"), ("read_knb first pass", "{knb_first_pass_s:.2f} s", "---:"),
         ("driver JIT", "{jit_s:.2f} s", "---:"))


def report(r: dict) -> str:
    title = (f"## Ray Data window samples: {r['episodes']} episodes, ray.init(num_cpus={r['cpus']}), "
             f"iter_batches({r['batch']}), median of {r['runs']} runs")
    table = ["| " + " | ".join(h for h, _, _ in TABLE) + " |", "|" + "|".join(a for _, _, a in TABLE) + "|"]
    table += ["| " + " | ".join(f.format(**x, ratio=x["knb"] / x["parquet"]) for _, f, _ in TABLE) + " |"
              for x in r["rows"]]
    return "\n".join([title, "", *table, "", f"read_lerobot: {r['lerobot']}"])


def parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 episodes, 3 runs")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...) (default 2)")
    ap.add_argument("--camera", default="lz4", choices=("lz4", "jpeg"), help="codec of the camera row")
    ap.add_argument("--out", type=Path, help="also write the markdown table to this file")
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    if args.quick:
        args.episodes, args.runs = 20, 3
    return args


def main(argv=None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-ray-", dir=os.environ.get("KINONB_BENCH_TMP")) as tmp:
        r = run(args.episodes, args.runs, Path(tmp), cpus=args.cpus, cameras=(None, args.camera))
    text = report(r)
    print_and_save(text, r, args.json)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
