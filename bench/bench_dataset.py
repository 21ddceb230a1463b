"""Sharded datasets (issue 17): the same episodes as one .knb file and as a folder of S shards, in one run.

    python -m bench.bench_dataset [--quick] [--episodes N] [--shards 8,64] [--batches B] [--json PATH|-]

Per layout: open (``kinonb.open(folder)``: the manifest and every shard's footer), one KQL query, building the
window index (actions ``t .. t+15``, the state at ``t``), then B batches of 256 random window samples through
``sample_index().read``, warm (page cache and Numba compiled: a warm-up batch first, its time left out), and
the same through the range HTTP server (``kinonb.testing.range_server``, 127.0.0.1) with the block caches cold
(from the open on, prefetch included, as the torch datasets read) and warm, against the single file on local
disk cold. Every batch is checked equal to the single file's. Ratios
are against the single file measured in the same run. A first pass over every layout compiles the kernels; its
index times are reported apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_remote import BATCH, evict, windows
from .report import print_and_save

QUERY = "success = true AND num_frames > 150"


def write_layouts(tmp: Path, episodes: int, shard_counts: list[int]) -> dict:
    """``{shards: path}``: 1 is a single file; the others folders of that many shards with a manifest."""
    import kinonb

    rng = np.random.default_rng(0)
    eps = []
    for e in range(episodes):
        t = int(rng.integers(150, 250))
        eps.append(dict(actions=rng.normal(size=(t, 7)).astype(np.float32),
                        states=rng.normal(size=(t, 32)).astype(np.float32), success=bool(e % 3), episode_id=e,
                        task=f"task {e % 10}"))
    out = {1: tmp / "one.knb"}
    with kinonb.create(out[1]) as w:
        for ep in eps:
            w.add_episode(**ep)
    for s in shard_counts:
        folder = out[s] = tmp / f"ds{s}"
        folder.mkdir()
        for k, part in enumerate(np.array_split(np.arange(episodes), s)):
            with kinonb.create(folder / f"shard-{k:05d}.knb") as w:
                for e in part.tolist():
                    w.add_episode(**eps[e])
        kinonb.write_manifest(folder)
    return out


def timed_reads(index, ids: list, repeats: int = 7) -> tuple[float, list]:
    """Warm samples/s: the best of ``repeats`` passes over the batches (a pass is a few ms: one is noise)."""
    out = [index.read(b) for b in ids]  # warm-up: compiled kernels, the pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in ids:
            index.read(b)
        best = min(best, time.perf_counter() - t0)
    return len(ids) * BATCH / best, out


def local_row(path: Path, ids: list, want: list | None) -> tuple[dict, list]:
    import kinonb

    t0 = time.perf_counter()
    db = kinonb.open(path, access="random")
    t1 = time.perf_counter()
    hits = len(db.query_positions(QUERY))
    t2 = time.perf_counter()
    index = db.sample_index(windows(False))
    t3 = time.perf_counter()
    rate, got = timed_reads(index, ids)
    if want is not None:
        assert all(np.array_equal(a[k], b[k]) for a, b in zip(want, got) for k in a), "dataset differs from the file"
    return {"open_ms": (t1 - t0) * 1e3, "query_ms": (t2 - t1) * 1e3, "index_ms": (t3 - t2) * 1e3, "hits": hits,
            "warm": rate}, got


def remote_rates(url: str, ids: list, want: list) -> tuple[float, float, int]:
    """(cold, warm samples/s, requests) through the range server. Cold counts everything from the open on: the
    open (a small shard's whole file may come with its footer), the index, its prefetch (as the torch datasets
    call it) and the reads."""
    import kinonb

    t0 = time.perf_counter()
    db = kinonb.open(url, cache_bytes=1 << 30)
    index = db.sample_index(windows(False))
    index.prefetch()
    got = [index.read(b) for b in ids]
    cold = len(ids) * BATCH / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for b in ids:
        index.read(b)
    warm = len(ids) * BATCH / (time.perf_counter() - t0)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(want, got) for k in a), "remote differs from the file"
    shards = getattr(db, "shards", [db])
    return cold, warm, sum(s.requests for s in shards)


def run(episodes: int, shard_counts: list[int], batches: int, tmp: Path) -> dict:
    import kinonb
    from kinonb.testing.range_server import RangeServer

    paths = write_layouts(tmp, episodes, shard_counts)
    n = len(kinonb.open(paths[1]).sample_index(windows(False)))
    rng = np.random.default_rng(1)
    ids = [rng.integers(0, n, BATCH) for _ in range(batches + 1)]
    first = {}
    for shards, path in paths.items():  # a first pass compiles the kernels (and Numba's typed list): timed apart
        first[shards] = local_row(path, ids[:2], None)[0]["index_ms"]
    rows, want = [], None
    for shards, path in paths.items():
        row, got = local_row(path, ids, want)
        want = want or got
        rows.append(dict(row, shards=shards, first_index_ms=first[shards]))
    evict(paths[1])
    index = kinonb.open(paths[1], access="random").sample_index(windows(False))
    t0 = time.perf_counter()  # kernels compiled above: nothing to warm up, and nothing may be
    for b in ids[1:]:
        index.read(b)
    cold_file = batches * BATCH / (time.perf_counter() - t0)
    with RangeServer(tmp) as http:
        for row in rows:
            name = paths[row["shards"]].name + ("" if row["shards"] == 1 else "/")
            row["remote_cold"], row["remote_warm"], row["requests"] = remote_rates(http.url(name), ids[1:], want[1:])
    return {"episodes": episodes, "samples": n, "batches": batches, "local_cold_file": cold_file, "rows": rows}


def report(r: dict) -> str:
    base = r["rows"][0]
    lines = [f"## Sharded datasets: {r['episodes']} episodes ({r['samples']:,} window samples), {r['batches']} "
             f"batches of {BATCH}", "",
             f"The single file read cold from local disk: {r['local_cold_file']:,.0f} samples/s. The first index "
             f"build of a run, which compiles the kernels, took "
             + ", ".join(f"{x['first_index_ms']:.0f} ms ({x['shards']} shard{'s' if x['shards'] > 1 else ''})"
                         for x in r["rows"]) + " (left out of the table).", "",
             "| layout | open | KQL | index | warm batches | warm / file | remote cold | remote warm | "
             "remote cold / file cold | requests |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        name = "one file" if x["shards"] == 1 else f"{x['shards']} shards"
        lines.append(f"| {name} | {x['open_ms']:.1f} ms | {x['query_ms']:.2f} ms | {x['index_ms']:.1f} ms | "
                     f"{x['warm']:,.0f}/s | {x['warm'] / base['warm']:.2f}x | {x['remote_cold']:,.0f}/s | "
                     f"{x['remote_warm']:,.0f}/s | {x['remote_cold'] / r['local_cold_file']:.2f}x | "
                     f"{x['requests']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 episodes, 4 and 16 shards, 5 batches")
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--shards", default="8,64")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    episodes, shards, batches = (200, "4,16", 5) if args.quick else (args.episodes, args.shards, args.batches)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-dataset-", dir=os.environ.get("KINONB_BENCH_TMP")) as tmp:
        r = run(episodes, [int(s) for s in shards.split(",")], batches, Path(tmp))
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
