"""The first KQL query on a kinodb ``.kdb`` file (issue 18 req 5): kinonb against kinodb itself, one run.

    python -m bench.bench_kdb_query [--episodes 1000000] [--kino PATH]

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--kino", type=Path, default=KINO)
    args = ap.parse_args(argv)
    if not args.kino.is_file():
        print(f"skipped: no kino at {args.kino}")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="kinonb-bench-kdb-"))
    try:
        path = tmp / "x.kdb"
        subprocess.run([str(args.kino), "create-test", str(path), "-n", str(args.episodes)], check=True,
                       capture_output=True)
        t0 = time.perf_counter()
        kinonb.open(str(path)).query(QUERY)
        warm = time.perf_counter() - t0
        print(f"## First KQL query `{QUERY}` on a {args.episodes:,}-episode .kdb ({path.stat().st_size / 1e6:,.0f} MB)"
              f"\n\nwarm-up (kinonb, JIT load included): {warm:.2f} s\n")
        print("| reader | open s | first query s | open + query vs kinodb |\n|---|---:|---:|---:|")
        rows = [("kinonb.open", *first_query(kinonb.open, path, args.repeats))]
        try:
            import kinodb
        except ImportError:
            kinodb = None
        if kinodb is not None:
            rows.append(("kinodb.open (the real peer)", *first_query(kinodb.open, path, args.repeats)))
            assert rows[0][3] == rows[1][3], "kinonb and kinodb return different hits"
        base = rows[-1][1] + rows[-1][2] if kinodb is not None else None
        for label, o, q, hits in rows:
            ratio = f"{base / (o + q):.2f}x as fast" if base else ""
            print(f"| {label} | {o:.3f} | {q:.3f} | {ratio} |")
        print(f"\n{len(rows[0][3]):,} hits" + ("" if kinodb is not None else "; kinodb row skipped: no kinodb wheel"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
