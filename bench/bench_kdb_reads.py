"""Reading kinodb's own files, and opening files of every size (issue 18 reqs 5 and 6): kinonb against kinodb.

    python -m bench.bench_kdb_reads [--quick] [--kino PATH] [--json PATH|-]

Every ``.kdb`` is written by kinodb's own CLI (``kino create-test``, ``../shared/peers/kinodb/kino``) and read by
kinodb's Python wheel (the real peer: ``pip install ../shared/peers/kinodb/kinodb-*.whl``) and by
``kinonb.open``; the bench skips when either is absent. Values are checked equal on every episode read
(JPEG pixels within 2 levels: the decoders differ).

- **reads**: ``read_meta``, ``read_episode_actions_only`` and ``read_episode`` of every episode in turn, in the
  page cache after one warm-up pass, best of 5 passes, microseconds per episode; files of 1,000 low-dim
  episodes and of 200 episodes with two 64x64 cameras (raw, JPEG quality 85).
- **open**: ``kinonb.open`` of a ``.knb`` holding the same episodes (written with ``add_episodes``), of the
  ``.kdb`` itself, and ``kinodb.open`` of the ``.kdb``, at 1K, 50K and 1M episodes (``--quick``: 1K and 50K).
  Median of 20 opens (5 at 1M), each a new reader, in the page cache ("reopen"); and the first open in a fresh
  process, the library already imported (median of 5 processes: "first").

Ratios are kinodb's time over kinonb's (above 1: kinonb is faster), from the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_writes import KINO
from .report import print_and_save


def per_episode_us(fn, n: int, passes: int = 5) -> float:
    for i in range(n):
        fn(i)
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def check_equal(a, b, n: int) -> None:
    for i in range(n):
        x, y = a.read_episode(i), b.read_episode(i)
        for k in ("actions", "states", "rewards"):
            assert np.array_equal(np.asarray(x[k], np.float32), y[k]), (i, k)
        assert list(x["is_terminal"]) == list(y["is_terminal"]), i
        assert sorted(x.get("images", {})) == sorted(y.get("images", {})), i
        for cam, img in x.get("images", {}).items():
            diff = np.abs(np.asarray(img, np.int16) - y["images"][cam].astype(np.int16))
            assert img.shape == y["images"][cam].shape and diff.max() <= 2, (i, cam)
        meta = a.read_meta(i)
        assert all(meta[k] == b.read_meta(i)[k] for k in ("task", "embodiment", "num_frames", "success")), i


def read_rows(kino: Path, tmp: Path) -> list[dict]:
    import kinodb

    import kinonb

    rows = []
    for label, n, flags in (("1,000 low-dim episodes", 1000, []), ("200 episodes, 2 raw 64x64 cameras", 200,
                            ["--images"]), ("200 episodes, 2 JPEG 64x64 cameras", 200, ["--images", "--compress",
                                                                                         "85"])):
        path = tmp / f"r{len(rows)}.kdb"
        subprocess.run([str(kino), "create-test", str(path), "-n", str(n), *flags], check=True, capture_output=True)
        a, b = kinodb.open(str(path)), kinonb.open(path)
        check_equal(a, b, n)
        for op in ("read_meta", "read_episode_actions_only", "read_episode"):
            peer, ours = per_episode_us(getattr(a, op), n), per_episode_us(getattr(b, op), n)
            rows.append({"file": label, "read": op, "kinodb_us": peer, "kinonb_us": ours, "ratio": peer / ours})
    return rows


def write_knb_like(path: Path, n: int, frames: int = 50) -> None:
    import kinonb

    rng = np.random.default_rng(0)
    with kinonb.create(path, sync=False, autocommit_bytes=None) as w:
        for lo in range(0, n, 100_000):
            k = min(100_000, n - lo)
            w.add_episodes(np.full(k, frames), actions=rng.standard_normal((k * frames, 7), np.float32),
                           states=rng.standard_normal((k * frames, 6), np.float32),
                           rewards=np.zeros(k * frames, np.float32), is_terminal=np.zeros(k * frames, bool),
                           task=[f"task {i % 6}" for i in range(k)], embodiment="franka", fps=10.0,
                           success=rng.random(k) < 0.5)


def median_open_us(open_fn, path: Path, repeats: int) -> float:
    open_fn(str(path))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        open_fn(str(path))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


FIRST_OPEN = """
import sys, time
import {module}
t0 = time.perf_counter()
{module}.open(sys.argv[1])
print((time.perf_counter() - t0) * 1e6)
"""


def first_open_us(module: str, path: Path, repeats: int = 5) -> float:
    """Median time of the first ``open`` in a fresh process (the module already imported): what a training
    script pays once, with nothing decoded or loaded before it."""
    code = FIRST_OPEN.format(module=module)
    return statistics.median(float(subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                                                  capture_output=True, text=True).stdout) for _ in range(repeats))


def open_rows(kino: Path, tmp: Path, sizes) -> list[dict]:
    import kinodb

    import kinonb

    rows = []
    for n in sizes:
        kdb, knb = tmp / f"o{n}.kdb", tmp / f"o{n}.knb"
        subprocess.run([str(kino), "create-test", str(kdb), "-n", str(n)], check=True, capture_output=True)
        write_knb_like(knb, n)
        repeats = 5 if n >= 1_000_000 else 20
        peer = median_open_us(kinodb.open, kdb, repeats)
        rows.append({"episodes": n, "kinodb_kdb_us": peer,
                     "kinonb_knb_us": median_open_us(kinonb.open, knb, repeats),
                     "kinonb_kdb_us": median_open_us(kinonb.open, kdb, repeats),
                     "first": {"kinodb_kdb_us": first_open_us("kinodb", kdb), "kinonb_knb_us": first_open_us(
                         "kinonb", knb), "kinonb_kdb_us": first_open_us("kinonb", kdb)}})
        kdb.unlink()
        knb.unlink()
    return rows


def report(reads: list[dict], opens: list[dict]) -> str:
    lines = ["## Reading kinodb's own files (microseconds per episode, warm)", "",
             "| file | read | kinodb | kinonb | kinonb vs kinodb |", "|---|---|---:|---:|---:|"]
    for r in reads:
        lines.append(f"| {r['file']} | `{r['read']}` | {r['kinodb_us']:,.1f} | {r['kinonb_us']:,.1f} | "
                     f"{r['ratio']:.2f}x |")
    lines += ["", "## Open (microseconds, median, warm page cache)", "",
              "Reopen: the same file opened again and again in one process. First: the first open in a fresh process "
              "(library imported; median of 5 processes).", "",
              "| episodes | open | kinodb .kdb | kinonb .knb | vs kinodb | kinonb .kdb | vs kinodb |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for r in opens:
        for label, f in (("reopen", r), ("first", r["first"])):
            lines.append(f"| {r['episodes']:,} | {label} | {f['kinodb_kdb_us']:,.0f} | {f['kinonb_knb_us']:,.0f} | "
                         f"{f['kinodb_kdb_us'] / f['kinonb_knb_us']:.2f}x | {f['kinonb_kdb_us']:,.0f} | "
                         f"{f['kinodb_kdb_us'] / f['kinonb_kdb_us']:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="open at 1K and 50K episodes only")
    ap.add_argument("--kino", type=Path, default=KINO)
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    try:
        import kinodb  # noqa: F401
    except ImportError:
        print("skipped: kinodb's wheel is not installed (pip install ../shared/peers/kinodb/kinodb-*.whl)")
        return 0
    if not args.kino.is_file():
        print(f"skipped: no kino at {args.kino}")
        return 0
    sizes = (1000, 50_000) if args.quick else (1000, 50_000, 1_000_000)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-kdb-reads-") as tmp:
        reads = read_rows(args.kino, Path(tmp))
        opens = open_rows(args.kino, Path(tmp), sizes)
    print_and_save(report(reads, opens), {"reads": reads, "opens": opens}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
