"""The end-to-end benchmark: kinonb against the loaders robot-learning code uses today, in one run.

    python -m bench.run [--quick] [--out DIR] [--publish]      (also: kinonb bench [options])

1. Sources (sources.py): the real Push-T replay buffer (206 episodes, 96x96 images) and a synthetic low-dim set
   (10K episodes x 200 frames, 7-d actions, 32-d states), each written as .knb (raw and lz4), robomimic HDF5,
   diffusion_policy zarr and LeRobot Parquet into a temporary directory. The scaling files (1K..1M episodes)
   are written meanwhile in a background process; nothing is timed while anything is being written.
2. Throughput (e2e.py): samples/s per loader (loaders.py), warm and cold page cache, median of >= 5 runs.
3. The actions-only BC loop per loader (e2e.py): total, data and compute time; loss curves must be identical.
   With a CUDA device, the loop also runs on the GPU with 8 DataLoader workers (a separate table).
4. Scaling (scaling.py): open and KQL time at 1K, 10K, 100K and 1M episodes.
5. Outputs (report.py) under --out (default bench/results/): results.json, results.md, throughput.png,
   data_share.png, scaling.png; --publish also copies results.md and the PNGs to docs/bench/.

Default sizes take about 6-8 minutes on 2 cores; --quick is a one-minute smoke run.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from . import e2e, report, scaling, sources
from .loaders import loaders_for, sample_table, torch_available

ROOT = Path(__file__).resolve().parents[1]
#: Run from a source checkout (bench/ beside kinonb/ and pyproject.toml), or installed as kinonb.bench.
CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "kinonb").is_dir()
DEFAULT_OUT = ROOT / "bench" / "results" if CHECKOUT else Path("kinonb-bench-results")
PUBLISH_DIR = ROOT / "docs" / "bench" if CHECKOUT else None
PROG = f"python -m {__package__ or 'bench'}.run"

#: What a run imports beyond kinonb's own dependencies (the `bench` extra): module -> pip package.
REQUIRED = {"matplotlib": "matplotlib", "h5py": "h5py", "zarr": "zarr", "pyarrow": "pyarrow", "torch": "torch"}
INSTALL_HINT = "pip install 'kinonb[bench]'"

DEFAULTS = {  # option: (default, --quick)
    "pusht_episodes": (None, 6),
    "episodes": (10_000, 200),
    "frames": (200, 50),
    "scaling": ("1000,10000,100000,1000000", "1000,3000"),
    "runs": (5, 5),
    "batches_per_run": (2, 1),
    "steps": (100, 10),
    "batch": (256, 32),
}
#: --quick: a warm run of a fast loader lasts about this long (e2e.throughput's run_target_s; default 0.25 s).
QUICK_RUN_TARGET_S = 0.05


def parse(argv):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a one-minute smoke run")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="output folder (default bench/results/ in a checkout, else ./kinonb-bench-results/)")
    ap.add_argument("--publish", action="store_true",
                    help="also copy results.md and the PNGs to docs/bench/ (a source checkout only)")
    ap.add_argument("--workdir", type=Path, help="where the datasets are written (default: a temp dir, removed)")
    ap.add_argument("--pusht", type=Path, default=sources.PUSHT_ZARR, help="the Push-T replay buffer (zarr)")
    ap.add_argument("--pusht-episodes", type=int, help="use the first N Push-T episodes (default all 206)")
    ap.add_argument("--episodes", type=int, help="synthetic episodes (default 10000)")
    ap.add_argument("--frames", type=int, help="synthetic frames per episode (default 200)")
    ap.add_argument("--scaling", help="comma-separated episode counts (default 1000,10000,100000,1000000)")
    ap.add_argument("--runs", type=int, help="timed runs per figure (>= 5)")
    ap.add_argument("--batches-per-run", type=int, help="batches of 256 per timed run")
    ap.add_argument("--batch", type=int, help="batch size (default 256; 32 with --quick)")
    ap.add_argument("--steps", type=int, help="BC loop steps per loader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cold", action="store_true", help="skip the cold page-cache runs")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch intra-op threads for the BC loop (default 1: the MLP is small, and on a few shared "
                         "cores a second OpenMP thread mostly waits at barriers)")
    ap.add_argument("--extra-loop", metavar="DEVICE:WORKERS",
                    help="also run the BC loop on DEVICE with WORKERS DataLoader workers (default 'cuda:8' "
                         "when a CUDA device is present)")
    args = ap.parse_args(argv)
    for key, (default, quick) in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else default)
    if args.runs < 5:
        ap.error("--runs must be >= 5 (medians of at least 5 runs)")
    if args.publish and PUBLISH_DIR is None:
        ap.error("--publish refreshes docs/bench/ of a source checkout; this is an installed kinonb.bench")
    return args


def missing_dependencies() -> list[str]:
    """The pip packages of REQUIRED whose module does not import (missing, or broken)."""
    import importlib

    missing = []
    for module, package in REQUIRED.items():
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - ImportError, or an installed package that fails to load
            missing.append(package)
    return missing


def log(msg=""):
    print(msg, flush=True)


class CpuWatch:
    """How much CPU other processes used while the benchmark ran (from /proc/stat and this process's times):
    on a shared machine the figures are only as good as this number is small."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        t = os.times()
        own = (t.user + t.system + t.children_user + t.children_system) * ticks
        return sum(fields), idle, own

    def other_share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        total, idle, own = (e - s for e, s in zip(end, self.start))
        return max(0.0, (total - idle - own) / total) if total > 0 else None


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: remove the temp datasets


def main(argv=None) -> int:
    args = parse(argv)
    missing = missing_dependencies()  # before any work: no dataset, no output folder
    if missing:
        print(f"{PROG}: missing {', '.join(missing)} (the benchmark needs them): {INSTALL_HINT}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    watch = CpuWatch()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    warnings.simplefilter("ignore")  # e.g. zarr's notes about the v2 format
    import torch

    torch.set_num_threads(args.torch_threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kinonb-bench-", dir=args.workdir))
    results = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "machine": report.machine(), "datasets": {}, "notes": [], "phases_s": {}}
    results["machine"]["workdir_read_ahead_kb"] = report.read_ahead_kb(work)
    notes = results["notes"]
    try:
        scaling_sizes = [int(s) for s in str(args.scaling).split(",") if s]
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        scaling_job = pool.submit(scaling.write_files, work / "scaling", scaling_sizes) if scaling_sizes else None
        (work / "scaling").mkdir()

        log(f"== building the datasets under {work} (scaling files {scaling_sizes} in the background)")
        built = {}
        if args.pusht.exists():
            t0 = time.perf_counter()
            src = sources.pusht_source(args.pusht, args.pusht_episodes)
            log(f"  Push-T read in {time.perf_counter() - t0:.1f} s: {src.describe()['episodes']} episodes, "
                f"{src.describe()['frames']:,} frames")
            built["pusht"] = (src.describe(), sources.build(src, work / "pusht", log=log), src.lengths)
            del src
        else:
            notes.append(f"Push-T skipped: {args.pusht} not found.")
            log(f"  Push-T skipped: {args.pusht} not found")
        src = sources.synthetic_source(args.episodes, args.frames, seed=args.seed)
        log(f"  synthetic: {args.episodes:,} episodes x {args.frames} frames")
        built["synthetic"] = (src.describe(), sources.build(src, work / "synthetic", log=log), src.lengths)
        del src
        gc.collect()
        if args.quick:
            # Every cold run and every loader ends with a gc.collect(), which walks the whole heap (torch, zarr,
            # pyarrow: ~0.25 s each on 2 cores, most of a quick run): move what exists now out of its reach.
            gc.freeze()
        scaling_files = {}
        if scaling_job is not None:
            t0 = time.perf_counter()
            scaling_files = scaling_job.result()
            log(f"  scaling files ready (waited {time.perf_counter() - t0:.1f} s): "
                + ", ".join(f"{n:,} in {f['write_s']:.1f} s" for n, f in scaling_files.items()))
        pool.shutdown()
        e2e.sync_files()
        results["phases_s"]["build"] = time.perf_counter() - t_start

        if not torch_available():
            notes.append("kinonb.torch was not importable: its rows are missing.")
        for name, (desc, files, lengths) in built.items():
            ds = results["datasets"][name] = {"source": desc, "files": files, "throughput": {}, "bc": {}}
            order = np.random.default_rng(args.seed).permutation(len(sample_table(lengths)[0]))
            modes = [("actions only", False)] + ([("with images", True)] if desc.get("image_shape") else [])
            for mode, images in modes:
                t0 = time.perf_counter()
                log(f"== throughput: {name}, {mode}")
                ds["throughput"][mode] = e2e.throughput(
                    loaders_for(files, lengths, images, probes=True), order, batch=args.batch, runs=args.runs,
                    batches_per_run=args.batches_per_run, cold=not args.no_cold, log=log,
                    **({"run_target_s": QUICK_RUN_TARGET_S} if args.quick else {}))
                results["phases_s"][f"throughput {name} {mode}"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            log(f"== BC loop: {name} (actions only, {args.steps} steps)")
            loaders = loaders_for(files, lengths, False)
            ds["bc"]["cpu, in-process"] = e2e.bc_all(loaders, order, steps=args.steps, batch=args.batch,
                                                     seed=args.seed, log=log)
            results["phases_s"][f"bc {name}"] = time.perf_counter() - t0
            extra = args.extra_loop or ("cuda:8" if torch.cuda.is_available() else None)
            if extra:
                device, workers = extra.split(":")
                workers = int(workers)
                log(f"== BC loop: {name} on {device} with {workers} DataLoader workers")
                subset = {k: v for k, v in loaders.items() if k != "in-RAM torch"}
                ds["bc"][f"{device}, {workers} workers"] = e2e.bc_all(
                    subset, order, steps=args.steps, batch=args.batch, seed=args.seed, device=device,
                    workers=workers, check=device == "cpu", log=log)
            else:
                results["gpu"] = {"note": "No CUDA device on this machine: the GPU / 8-worker row was not run "
                                          "(`python -m bench.run --extra-loop cuda:8` where one is present)."}
        jit_file = next((f["knb_lz4"]["path"] for _, f, _ in built.values() if "knb_lz4" in f),
                        built["synthetic"][1]["knb"]["path"])
        log(f"== JIT warm-up: kinonb's first batch in a fresh process ({Path(jit_file).name})")
        results["jit"] = e2e.jit_compile_time(jit_file)
        results["jit"]["file"] = Path(jit_file).name
        for label, r in results["jit"].items():
            if isinstance(r, dict):
                log(f"    {label:<20} first batch {r['first_batch_s'] * 1e3:8.1f} ms, sample_index "
                    f"{r['first_sample_index_s'] * 1e3:7.1f} ms, second batch {r['second_batch_s'] * 1e3:6.1f} ms")
        if scaling_files:
            log("== scaling: open and KQL vs episodes")
            t0 = time.perf_counter()
            results["scaling"] = scaling.measure(scaling_files, runs=args.runs, log=log)
            results["phases_s"]["scaling"] = time.perf_counter() - t0
    finally:
        gc.unfreeze()
        shutil.rmtree(work, ignore_errors=True)

    results["wall_s"] = time.perf_counter() - t_start
    results["machine"]["other_processes_cpu_share"] = other = watch.other_share()
    results["machine"]["loadavg_end"] = _loadavg()
    if other is not None and other > 0.05:
        notes.append(f"Other processes used {other * 100:.0f}% of the machine's CPU time during this run: the "
                     f"figures are disturbed; rerun on a quiet machine.")
    report.write_json(results, out / "results.json")
    md = report.render(results, out, publish=PUBLISH_DIR if args.publish else None, log=log)
    log("")
    log(md)
    log("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in results["phases_s"].items()))
    log(f"total wall time {results['wall_s']:.0f} s")
    return 0


def _loadavg():
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
