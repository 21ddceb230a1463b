"""What auto-commit costs: write MB/s with the default auto-commit (64 MiB of pending blocks) against
``autocommit_bytes=None`` (one commit at the end), and with a 1 MiB interval, for image episodes and for many small low-dim episodes
(where the footer rule, max(autocommit_bytes, last footer size), keeps commits rare), with and without fsync.

    python -m bench.bench_autocommit [--quick] [--json out.json]

Each figure is the median of several runs after a warm-up; the ratio compares each auto-commit run against
the no-auto-commit baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

import kinonb
from kinonb.store.autocommit import DEFAULT_AUTOCOMMIT_BYTES

from .timing import timed


def _commits(path: Path) -> int:
    return kinonb.open(path).commit_seq - 1  # not create's empty commit


def bench_case(path: Path, episodes: list, mb: float, sync: bool, runs: int) -> dict:
    out = {}
    for label, limit in (("off", None), ("default", DEFAULT_AUTOCOMMIT_BYTES), ("1MiB", 1 << 20)):
        def write():
            with kinonb.create(path, overwrite=True, sync=sync, autocommit_bytes=limit) as w:
                for ep in episodes:
                    w.add_episode(**ep)
        r = timed(write, runs)
        out[label] = {"mb_per_s": mb / r["median_s"], "commits": _commits(path), **r}
    out["ratio"] = out["default"]["mb_per_s"] / out["off"]["mb_per_s"]
    out["ratio_1MiB"] = out["1MiB"]["mb_per_s"] / out["off"]["mb_per_s"]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (still past one auto-commit interval)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--dir", type=Path, help="where to write temporary files (default: a temp dir)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (100, 96, 96, 3), dtype=np.uint8)
    n_images = 100 if args.quick else 400  # 276 MB or 1.1 GB of pixels: 4 or 16 auto-commits
    images = [dict(actions=np.zeros((100, 7), np.float32), images={"top": frames})] * n_images
    a, s = rng.standard_normal((10, 7)).astype(np.float32), rng.standard_normal((10, 32)).astype(np.float32)
    n_low = 20_000 if args.quick else 100_000
    lowdim = [dict(actions=a, states=s, task=f"task {i % 50}") for i in range(n_low)]
    cases = {"images": (images, n_images * (frames.nbytes + 2800) / 1e6),
             "lowdim_small_episodes": (lowdim, n_low * 10 * 39 * 4 / 1e6)}
    tmp = Path(tempfile.mkdtemp(dir=args.dir))
    warnings.simplefilter("ignore")
    results = {}
    try:
        for name, (episodes, mb) in cases.items():
            for sync in (False, True):
                key = f"{name}_{'sync' if sync else 'nosync'}"
                r = results[key] = bench_case(tmp / "w.knb", episodes, mb, sync, 3)
                print(f"  {key:32s} off {r['off']['mb_per_s']:8.1f} MB/s ({r['off']['commits']} commits)   "
                      f"default {r['default']['mb_per_s']:8.1f} MB/s ({r['default']['commits']} commits)   "
                      f"ratio {r['ratio']:.3f}   1 MiB {r['1MiB']['mb_per_s']:8.1f} MB/s "
                      f"({r['1MiB']['commits']} commits) ratio {r['ratio_1MiB']:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = {"cpus": os.cpu_count(), "numpy": np.__version__, "kinonb": kinonb.__version__}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
