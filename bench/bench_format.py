"""Foundation figures: open time vs episode count, actions-only read throughput, write throughput.

    python -m bench.bench_format [--quick] [--json out.json]

Each figure is the median of several runs after a warm-up; ratios compare against a baseline measured in the
same run (open at 1K episodes; copying the same arrays out of in-RAM numpy arrays).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import kinonb

from .timing import timed


def write_lowdim(path: Path, episodes: int, frames: int = 10, action_dim: int = 7, state_dim: int = 32) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((frames, action_dim)).astype(np.float32)
    s = rng.standard_normal((frames, state_dim)).astype(np.float32)
    t0 = time.perf_counter()
    with kinonb.create(path, overwrite=True, sync=False) as w:
        for i in range(episodes):
            w.add_episode(actions=a, states=s, task=f"task {i % 50}", embodiment="franka", fps=10.0,
                          success=bool(i % 3), total_reward=float(i % 7))
    return time.perf_counter() - t0


def bench_open(tmp: Path, sizes, runs: int) -> dict:
    out = {}
    for n in sizes:
        path = tmp / f"open_{n}.knb"
        write_lowdim(path, n, frames=2, state_dim=4)
        r = timed(lambda: kinonb.open(path), runs)
        r["file_mb"] = path.stat().st_size / 1e6
        out[str(n)] = r
        print(f"  open {n:>9,} episodes ({r['file_mb']:8.1f} MB): {r['median_s'] * 1e3:8.3f} ms  "
              f"(min {r['min_s'] * 1e3:.3f}, max {r['max_s'] * 1e3:.3f})")
        path.unlink()
    base = out[str(sizes[0])]["median_s"]
    for n in sizes:
        out[str(n)]["ratio_to_smallest"] = out[str(n)]["median_s"] / base
    return out


def bench_actions_only(tmp: Path, episodes: int, frames: int, runs: int) -> dict:
    path = tmp / "lowdim.knb"
    write_lowdim(path, episodes, frames=frames)
    db = kinonb.open(path)
    for i in range(episodes):
        db.read_meta(i)  # checks every index chunk once, like any first use
    ram_actions = [np.array(db.read_episode(i)["actions"]) for i in range(episodes)]
    ram_states = [np.array(db.read_episode(i)["states"]) for i in range(episodes)]

    def from_file():
        for i in range(episodes):
            ep = db.read_episode_actions_only(i)
            ep["actions"].copy()
            ep["states"].copy()

    def from_ram():
        for i in range(episodes):
            ram_actions[i].copy()
            ram_states[i].copy()

    f = timed(from_file, runs)
    r = timed(from_ram, runs)
    total = episodes * frames
    result = {
        "episodes": episodes,
        "frames_per_episode": frames,
        "kinonb_frames_per_s": total / f["median_s"],
        "in_ram_copy_frames_per_s": total / r["median_s"],
        "kinonb_episodes_per_s": episodes / f["median_s"],
        "kinonb": f,
        "in_ram": r,
    }
    result["ratio_to_in_ram"] = result["kinonb_frames_per_s"] / result["in_ram_copy_frames_per_s"]
    print(f"  read_episode_actions_only: {result['kinonb_frames_per_s']:,.0f} frames/s "
          f"({result['kinonb_episodes_per_s']:,.0f} episodes/s, with copy); in-RAM numpy copy "
          f"{result['in_ram_copy_frames_per_s']:,.0f} frames/s; ratio {result['ratio_to_in_ram']:.2f}")
    return result


def bench_write(tmp: Path, lowdim_episodes: int, image_episodes: int, runs: int) -> dict:
    out = {}
    path = tmp / "w.knb"
    secs = statistics.median(write_lowdim(path, lowdim_episodes, frames=200) for _ in range(runs))
    mb = lowdim_episodes * 200 * (7 + 32) * 4 / 1e6
    out["lowdim"] = {"episodes": lowdim_episodes, "payload_mb": mb, "mb_per_s": mb / secs, "seconds": secs}
    print(f"  write low-dim: {mb / secs:8.1f} MB/s ({lowdim_episodes} episodes x 200 frames, 7+32 dims)")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (100, 96, 96, 3), dtype=np.uint8)
    frames[:, :48] = 128  # half-flat images: realistic for lz4, not a best case
    a = np.zeros((100, 7), np.float32)
    for compression in (None, "lz4"):
        def write_images():
            with kinonb.create(path, overwrite=True, sync=False, compression=compression) as w:
                for _ in range(image_episodes):
                    w.add_episode(actions=a, images={"top": frames})
        r = timed(write_images, runs)
        mb = image_episodes * frames.nbytes / 1e6
        key = f"images_{compression or 'raw'}"
        out[key] = {"episodes": image_episodes, "payload_mb": mb, "mb_per_s": mb / r["median_s"],
                    "file_mb": path.stat().st_size / 1e6, **r}
        print(f"  write images ({compression or 'raw'}): {mb / r['median_s']:8.1f} MB/s of raw pixels "
              f"({image_episodes} episodes x 100 frames 96x96x3; file {out[key]['file_mb']:.1f} MB)")
    path.unlink()
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--dir", type=Path, help="where to write temporary files (default: a temp dir)")
    args = ap.parse_args(argv)
    sizes = [1_000, 10_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000]
    runs = 5 if args.quick else 9
    tmp = Path(tempfile.mkdtemp(dir=args.dir))
    warnings.simplefilter("ignore")
    try:
        print("open time (low-dim episodes, 2 frames each):")
        results = {"open": bench_open(tmp, sizes, runs)}
        print("actions-only reads (episodes of 50 frames, 7-d actions, 32-d states):")
        results["actions_only"] = bench_actions_only(tmp, 2_000 if args.quick else 20_000, 50, 5)
        print("write throughput:")
        results["write"] = bench_write(tmp, 200 if args.quick else 2_000, 10 if args.quick else 50, 3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    big = results["open"][str(sizes[-1])]["ratio_to_smallest"]
    print(f"open({sizes[-1]:,}) / open({sizes[0]:,}) = {big:.2f}x (target: within 2x)")
    results["machine"] = {"cpus": os.cpu_count(), "numpy": np.__version__, "kinonb": kinonb.__version__}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
