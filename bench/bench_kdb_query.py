"""The first KQL query on a kinodb ``.kdb`` file (issue 18 req 5): kinonb against kinodb itself, one run.

    python -m bench.bench_kdb_query [--quick] [--episodes 1000000] [--kino PATH] [--json PATH|-]

The file is what ``kino create-test -n N`` writes (the real peer's CLI, ``../shared/peers/kinodb/kino``); the
kinodb row needs its Python wheel (``pip install ../shared/peers/kinodb/kinodb-*.whl``) and is skipped without
it. Each repeat opens the file anew and runs one query (so the metadata table is built inside the figure); the
file is in the page cache. Hit lists are checked equal. Median of the repeats after one warm-up (the JIT load
of kinonb's kernels, printed apart).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import kinonb

from .bench_writes import KINO
from .report import print_and_save

QUERY = "success = true AND num_frames > 25"


def first_query(open_fn, path: Path, repeats: int) -> tuple[float, float, list]:
    """(median open seconds, median first-query seconds, hits)."""
    opens, queries, hits = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        db = open_fn(str(path))
        t1 = time.perf_counter()
        hits = list(db.query(QUERY))
        queries.append(time.perf_counter() - t1)
        opens.append(t1 - t0)
    return statistics.median(opens), statistics.median(queries), hits


def run(kino: Path, episodes: int, repeats: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kinonb-bench-kdb-"))
    try:
        path = tmp / "x.kdb"
        subprocess.run([str(kino), "create-test", str(path), "-n", str(episodes)], check=True, capture_output=True)
        t0 = time.perf_counter()
        kinonb.open(str(path)).query(QUERY)
        r = {"episodes": episodes, "file_mb": path.stat().st_size / 1e6, "warm_up_s": time.perf_counter() - t0,
             "rows": {}, "notes": []}
        o, q, hits = first_query(kinonb.open, path, repeats)
        r["rows"]["kinonb.open"] = {"open_s": o, "query_s": q, "hits": len(hits)}
        try:
            import kinodb
        except ImportError:
            r["notes"].append("kinodb row skipped: no kinodb wheel")
            return r
        o, q, peer_hits = first_query(kinodb.open, path, repeats)
        assert hits == peer_hits, "kinonb and kinodb return different hits"
        r["rows"]["kinodb.open (the real peer)"] = {"open_s": o, "query_s": q, "hits": len(hits)}
        return r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> str:
    lines = [f"## First KQL query `{QUERY}` on a {r['episodes']:,}-episode .kdb ({r['file_mb']:,.0f} MB)", "",
             f"warm-up (kinonb, JIT load included): {r['warm_up_s']:.2f} s", "",
             "| reader | open s | first query s | open + query vs kinodb |", "|---|---:|---:|---:|"]
    peer = r["rows"].get("kinodb.open (the real peer)")
    for label, row in r["rows"].items():
        ratio = f"{(peer['open_s'] + peer['query_s']) / (row['open_s'] + row['query_s']):.2f}x as fast" if peer else ""
        lines.append(f"| {label} | {row['open_s']:.3f} | {row['query_s']:.3f} | {ratio} |")
    hits = r["rows"]["kinonb.open"]["hits"]
    return "\n".join(lines + ["", f"{hits:,} hits", *r["notes"]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="100K episodes")
    ap.add_argument("--kino", type=Path, default=KINO)
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    if not args.kino.is_file():
        print(f"skipped: no kino at {args.kino}")
        return 0
    r = run(args.kino, 100_000 if args.quick else args.episodes, args.repeats)
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
