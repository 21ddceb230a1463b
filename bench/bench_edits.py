"""Edit commits against an append of one small episode (format 1.2): delete, relabel, annotate, add_column and
trim of one episode in files of 1K, 100K and 1M episodes.

    python -m bench.bench_edits [--quick] [--sizes 1000,100000] [--repeats 5] [--json OUT]

Each file holds N episodes x 50 frames (actions (T, 7) f32, states (T, 9) f32, rewards f32, a task and success),
built with one ``add_episodes`` writer (not timed into the rows). Every measured operation is a whole
``with kinonb.append(path) as w: ...`` block with the defaults (``sync=True``): open (reading the last footer),
the edit, and the commit (new blocks, fsync, the complete new footer and trailer, fsync). The operations run in
rounds on the same file, one commit each, so commits accumulate as they would in use; the first round is a
warm-up, each row the median of the rounds after it. Positions are spread over the file and never reused, so no
edit touches an episode an earlier one changed. Each commit's bytes come from ``kinonb.log``: what it wrote
(the file's growth), its footer and trailer, and the rest (blocks: the O(changed) part).

Then, on the edited file: ``kinonb.open`` of the newest commit against ``commit=-2``, ``kinonb.log``,
``kinonb.diff((path, -2), path)`` and ``kinonb.compact`` (bytes reclaimed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import kinonb

from .report import machine, print_and_save

FRAMES = 50
BUILD_CHUNK = 100_000  # episodes per add_episodes call while building (bounds the arrays in memory)
OPS = ("append", "delete", "set_meta", "annotate", "add_column", "trim")
LABELS = {"append": "append 1 episode of 50 frames (baseline)", "delete": "delete_episodes([p])",
          "set_meta": "set_meta(p, task=, success=)", "annotate": "set_meta(p, instructions=, segments=)",
          "add_column": "add_column(p, 'embedding', (50, 16) f32)", "trim": "trim(p, 5, 45)"}
FULL_SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 50_000)


def episodes(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    t = n * FRAMES
    return dict(lengths=np.full(n, FRAMES), actions=rng.standard_normal((t, 7), np.float32),
                states=rng.standard_normal((t, 9), np.float32), rewards=rng.standard_normal(t, np.float32),
                task=[f"task {i % 6}" for i in range(n)], success=(np.arange(n) % 3 != 0).tolist())


def build(path: Path, n: int) -> float:
    """The N-episode file, in one commit (not fsynced: building it is not what is measured)."""
    t0 = time.perf_counter()
    with kinonb.create(path, overwrite=True, sync=False, autocommit_bytes=None) as w:
        for lo in range(0, n, BUILD_CHUNK):
            w.add_episodes(**episodes(min(BUILD_CHUNK, n - lo), seed=lo))
    return time.perf_counter() - t0


def op_fn(op: str, rng: np.random.Generator):
    """``fn(path, position)``: one whole append session doing ``op`` (one commit)."""
    def run(path, p):
        with kinonb.append(path) as w:
            if op == "append":
                w.add_episode(rng.standard_normal((FRAMES, 7), np.float32),
                              rng.standard_normal((FRAMES, 9), np.float32), rng.standard_normal(FRAMES, np.float32),
                              task="task 0", success=True)
            elif op == "delete":
                w.delete_episodes([p])
            elif op == "set_meta":
                w.set_meta(p, task="relabelled task", success=False)
            elif op == "annotate":
                w.set_meta(p, instructions=["pick up the cube", "grab the cube"],
                           segments=[(0, 20, "reach"), (20, FRAMES, "grasp")])
            elif op == "add_column":
                w.add_column(p, "embedding", rng.standard_normal((FRAMES, 16), np.float32))
            elif op == "trim":
                w.trim(p, 5, 45)
    return run


def position(op: str, n: int, r: int) -> int:
    """Op ``op``'s episode in round ``r``: each op has its own eighth of the file, deletes the last one, so that
    no delete shifts another op's positions; within it a new episode every round."""
    k = OPS.index(op)
    base = n * (7 if op == "delete" else k + 1) // 8
    return base + 3 * r


def edit_rounds(path: Path, n: int, repeats: int, seed: int = 0) -> dict:
    """Rounds of every op on ``path``; per op its samples (seconds) and commit ends (to find in the log)."""
    rng = np.random.default_rng(seed)
    fns = {op: op_fn(op, rng) for op in OPS}
    out = {op: {"seconds": [], "ends": []} for op in OPS}
    for r in range(repeats + 1):  # round 0: warm-up
        for op in OPS:
            t0 = time.perf_counter()
            fns[op](path, position(op, n, r))
            seconds = time.perf_counter() - t0
            if r:
                out[op]["seconds"].append(seconds)
                out[op]["ends"].append(os.path.getsize(path))
    return out


def commit_bytes(log: list, ends: list) -> dict:
    """Median bytes written, footer + trailer and the rest (blocks) of the commits ending at ``ends``."""
    by_end = {rec.end: rec for rec in log}
    recs = [by_end[e] for e in ends]
    written = [rec.nbytes for rec in recs]
    footer = [rec.footer_bytes for rec in recs]
    return {"written": int(statistics.median(written)), "footer": int(statistics.median(footer)),
            "changed": int(statistics.median(w - f for w, f in zip(written, footer))),
            "changed_max": max(w - f for w, f in zip(written, footer))}


def timed_runs(fn, runs: int) -> tuple[dict, object]:
    """Median, min and max seconds of ``runs`` calls (no warm-up), and the last call's result."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples), "runs": runs}, result


def opened(path, whole: bool, **kw) -> int:
    """Open ``path`` (its footer is decoded lazily, chunk by chunk); ``whole``: also read every episode's
    metadata (``meta_table``: the whole episode table)."""
    with kinonb.open(path, **kw) as db:
        return len(db.meta_table().episode_id) if whole else len(db)


def history_ops(path: Path, tmp: Path, n: int, repeats: int) -> dict:
    """open (newest, commit=-2), log, diff (-2 to newest) and compact of the edited file."""
    opened(path, True)  # warm: the page cache holds the newest footer for both opens
    res = {}
    for key, whole, kw in (("open", False, {}), ("open_prev", False, {"commit": -2}), ("open_meta", True, {}),
                           ("open_prev_meta", True, {"commit": -2})):
        res[key], _ = timed_runs(lambda: opened(path, whole, **kw), repeats)
    res["log"], log = timed_runs(lambda: kinonb.log(path), repeats)
    res["commits"] = len(log)
    res["diff"], last = timed_runs(lambda: kinonb.diff((path, -2), path), 1 if n >= 500_000 else min(3, repeats))
    res["diff_changed"] = len(last.changed) + len(last.added) + len(last.removed)
    out = tmp / "compacted.knb"
    t0 = time.perf_counter()
    report = kinonb.compact(path, out, overwrite=True)
    res["compact"] = {"seconds": time.perf_counter() - t0, "bytes_before": report.bytes_before,
                      "bytes_after": report.bytes_after, "episodes": opened(out, False),
                      "commits": len(kinonb.log(out))}
    out.unlink()
    return res


def run_size(n: int, repeats: int, tmp: Path) -> dict:
    path = tmp / f"edits-{n}.knb"
    build_s = build(path, n)
    size0 = os.path.getsize(path)
    rounds = edit_rounds(path, n, repeats)
    log = kinonb.log(path)
    ops = {}
    for op in OPS:
        s = rounds[op]["seconds"]
        ops[op] = {"median_s": statistics.median(s), "min_s": min(s), "max_s": max(s), "runs": len(s),
                   **commit_bytes(log, rounds[op]["ends"])}
    base = ops["append"]["median_s"]
    for op in OPS:
        ops[op]["vs_append"] = ops[op]["median_s"] / base
    res = {"episodes": n, "build_s": build_s, "file_bytes": size0, "ops": ops,
           "history": history_ops(path, tmp, n, repeats), "file_bytes_after": os.path.getsize(path)}
    path.unlink()
    return res


def _mb(b: int) -> str:
    return f"{b / 1e6:,.1f} MB" if b >= 1e6 else f"{b / 1e3:,.1f} KB" if b >= 1e4 else f"{b:,} B"


def table(results: dict) -> list[str]:
    lines = ["| episodes | operation (one commit each) | median s | min-max s | vs append | bytes written | "
             "O(changed) bytes (written - footer) | footer + trailer |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["sizes"]:
        for op in OPS:
            o = r["ops"][op]
            lines.append(f"| {r['episodes']:,} | {LABELS[op]} | {o['median_s']:.4f} | {o['min_s']:.4f}-"
                         f"{o['max_s']:.4f} | {o['vs_append']:.2f}x | {_mb(o['written'])} | {o['changed']:,} | "
                         f"{_mb(o['footer'])} |")
    return lines


def history_table(results: dict) -> list[str]:
    lines = ["| episodes | commits | open newest s | open commit=-2 s | open + meta_table newest s | "
             "open + meta_table commit=-2 s | log s | diff (-2 to newest) s | compact s | compact reclaimed | "
             "compacted file (commits) |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["sizes"]:
        h = r["history"]
        c = h["compact"]
        reclaimed = c["bytes_before"] - c["bytes_after"]
        lines.append(f"| {r['episodes']:,} | {h['commits']} | {h['open']['median_s']:.4f} | "
                     f"{h['open_prev']['median_s']:.4f} | {h['open_meta']['median_s']:.4f} | "
                     f"{h['open_prev_meta']['median_s']:.4f} | {h['log']['median_s']:.4f} | "
                     f"{h['diff']['median_s']:.3f} | {c['seconds']:.2f} | {_mb(reclaimed)} of {_mb(c['bytes_before'])} "
                     f"({reclaimed / c['bytes_before']:.0%}) | {_mb(c['bytes_after'])} ({c['commits']}) |")
    return lines


def report(results: dict) -> str:
    m = results["machine"]
    lines = [f"## Edit commits vs an append of one episode ({FRAMES} frames, low-dim)", "",
             f"Machine: {m['cpu_model']}, {m['usable_cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; files in "
             f"{results['tmp_fs']}. Defaults (sync=True: blocks, footer and trailer fsynced). Each row: the median of "
             f"{results['repeats']} commits after a warm-up one, open + edit + commit.", ""]
    lines += table(results)
    lines += ["", "Build (one add_episodes writer, sync=False, not in the rows): " + ", ".join(
        f"{r['episodes']:,} in {r['build_s']:.1f} s ({_mb(r['file_bytes'])})" for r in results["sizes"]), ""]
    lines += ["### History operations on the edited file", ""]
    lines += history_table(results)
    lines += ["", f"Wall time {results['wall_s']:.0f} s."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1K and 50K episodes, 5 rounds")
    ap.add_argument("--sizes", help="comma-separated episode counts (default 1K, 100K, 1M)")
    ap.add_argument("--repeats", type=int, default=None, help="measured rounds per size (default 7, quick 5)")
    ap.add_argument("--json", help="also write the figures there (- for stdout)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else QUICK_SIZES if args.quick else FULL_SIZES
    repeats = args.repeats or (5 if args.quick else 7)
    if min(sizes) < 8 * (3 * repeats + 4):
        ap.error(f"--sizes: each needs at least {8 * (3 * repeats + 4)} episodes for {repeats} rounds")
    tmp = Path(tempfile.mkdtemp(prefix="kinonb-bench-edits-", dir=os.environ.get("KINONB_BENCH_TMP")))
    t0 = time.perf_counter()
    try:
        results = {"machine": machine(), "repeats": repeats, "tmp_fs": str(tmp.parent),
                   "sizes": [run_size(n, repeats, tmp) for n in sizes]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["wall_s"] = time.perf_counter() - t0
    print_and_save(report(results), results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
