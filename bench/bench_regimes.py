"""Every regime of issue 18's table against the real peer, re-measured in one run (its "Done when").

    python -m bench.bench_regimes [--quick] [--json PATH|-] [--publish]

Each section runs in a fresh Python process, one after the other (nothing else is timed meanwhile), and calls
the bench that owns the measurement; this module only picks the figures and sets them side by side:

- ``bench_peers`` on the scripted robomimic Lift demos of ``../shared/datasets/`` (the real data of the issue's
  lift rows; skipped without it) and on a synthetic 2,000 x 200-frame set: robomimic 0.3.0, LeRobot 0.6.1 (its
  Python 3.12 venv) and kinodb, warm and cold, ``DataLoader`` workers 0 and 2, values checked equal;
- ``bench_peers.episode_mode``: kinodb's own ``KinoDataset(path, image_key, image_size)`` on a ``.kdb`` its CLI
  wrote;
- ``bench_cold`` (a cold first epoch, import to first batch), ``bench_loader`` (threads against workers),
  ``bench_kdb_reads`` (kinodb's files; open at 1K / 50K / 1M), ``bench_kdb_query``, ``bench_writes``,
  ``bench_kernels`` (the window gather against an in-RAM loop and ``np.take``);
- the HDF5 ingest of the Lift file (bytes, and which columns ``obs/state`` became).

``--quick`` shrinks every section (a few minutes); the published table comes from a default run. Ratios are
kinonb over the peer (above 1: kinonb ahead) unless the row says otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import regime_table
from .report import print_and_save

ROOT = Path(__file__).resolve().parents[1]
LIFT = ROOT.parent / "shared" / "datasets" / "robomimic_hdf5_robocore_scripted" / "lift_ph" / "low_dim.hdf5"
PUBLISHED = ROOT / "docs" / "bench" / "regimes.md"

SIZES = {  # name: (default, --quick)
    "synthetic_episodes": (2000, 100),
    "slow_samples": (8192, 2048),
    "episode_mode_episodes": (200, 40),
    "cold_episodes": (1000, 200),
    "open_sizes": ((1000, 50_000, 1_000_000), (1000, 50_000)),
    "query_episodes": (1_000_000, 100_000),
    "write_episodes": (1_000_000, 100_000),
    "loop_episodes": (100_000, 20_000),
    "loader_batches": (400, 100),
    "kernel_batches": (200, 50),
}


def peers_section(hdf5: str | None, episodes: int, samples: int) -> dict:
    from . import bench_peers

    src = (bench_peers.robomimic_source(Path(hdf5)) if hdf5 else
           bench_peers.synthetic_source(episodes, 200, 7, 32))
    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        return bench_peers.run(src, samples, bench_peers.LEROBOT_PYTHON, Path(tmp))


def episode_mode_section(episodes: int) -> dict:
    from . import bench_peers

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        rows, note = bench_peers.episode_mode(bench_peers.KINO, Path(tmp), episodes)
    return {"rows": rows, "notes": [note] if note else []}


def cold_section(episodes: int) -> dict:
    from . import bench_cold

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        return bench_cold.run(episodes, 200, Path(tmp))


def loader_section(batches: int) -> dict:
    from . import bench_loader

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        path = Path(tmp) / "bc.knb"
        bench_loader.write_dataset(path, 2000, 200)
        return {regime: bench_loader.measure(path, 256, batches, 3, busy)
                for regime, busy in (("quiet", False), ("busy", True))}


def kdb_section(sizes) -> dict:
    from . import bench_kdb_reads
    from .bench_writes import KINO

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        return {"reads": bench_kdb_reads.read_rows(KINO, Path(tmp)),
                "opens": bench_kdb_reads.open_rows(KINO, Path(tmp), sizes)}


def query_section(episodes: int) -> dict:
    from . import bench_kdb_query
    from .bench_writes import KINO

    return bench_kdb_query.run(KINO, episodes, 5)


def writes_section(episodes: int, loop_episodes: int) -> dict:
    from . import bench_writes

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        return bench_writes.run(bench_writes.KINO, episodes, loop_episodes, Path(tmp))


def kernels_section(batches: int) -> dict:
    from . import bench_kernels

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        return bench_kernels.gather_bench(Path(tmp), 7, batches)


def hdf5_ingest_section(hdf5: str) -> dict:
    import kinonb
    from kinonb.interop.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="kinonb-regimes-") as tmp:
        out = Path(tmp) / "lift.knb"
        ingest(hdf5, out)
        db = kinonb.open(out)
        return {"hdf5_bytes": Path(hdf5).stat().st_size, "knb_bytes": out.stat().st_size,
                "columns": db.column_names()}


def _fork_workers() -> None:
    # The section's own DataLoader workers fork, as they do when a bench runs alone (kinodb's reader cannot pickle).
    multiprocessing.set_start_method("fork", force=True)


def isolated(fn, *args):
    """``fn(*args)`` in a fresh Python process (spawned: no state, threads or imports carried over)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_fork_workers) as pool:
        return pool.submit(fn, *args).result()


def run(quick: bool) -> dict:
    size = {k: v[quick] for k, v in SIZES.items()}
    lift = str(LIFT) if LIFT.is_file() else None
    sections = {
        "peers_lift": (peers_section, lift, 0, size["slow_samples"]) if lift else None,
        "peers_synthetic": (peers_section, None, size["synthetic_episodes"], size["slow_samples"]),
        "episode_mode": (episode_mode_section, size["episode_mode_episodes"]),
        "cold": (cold_section, size["cold_episodes"]),
        "loader": (loader_section, size["loader_batches"]),
        "kdb": (kdb_section, size["open_sizes"]),
        "query": (query_section, size["query_episodes"]),
        "writes": (writes_section, size["write_episodes"], size["loop_episodes"]),
        "kernels": (kernels_section, size["kernel_batches"]),
        "hdf5_ingest": (hdf5_ingest_section, lift) if lift else None,
    }
    out = {"quick": quick, "sizes": size, "seconds": {}, "skipped": []}
    for name, call in sections.items():
        if call is None:
            out["skipped"].append(f"{name}: no {LIFT}")
            continue
        t0 = time.perf_counter()
        out[name] = isolated(*call)
        out["seconds"][name] = time.perf_counter() - t0
        print(f"[bench_regimes] {name}: {out['seconds'][name]:.0f} s", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every section smaller (a few minutes)")
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    ap.add_argument("--publish", action="store_true", help=f"write the table to {PUBLISHED.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    r = run(args.quick)
    text = regime_table.report(r)
    print_and_save(text, r, args.json)
    if args.publish:
        PUBLISHED.write_text(regime_table.PREAMBLE + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
