"""A cold first epoch and the time to the first batch (issue 18 reqs 3 and 6): kinonb against robomimic 0.3.0.

    python -m bench.bench_cold [--quick] [--episodes N] [--json PATH|-]

One synthetic dataset (default 1,000 episodes x 200 frames: 7-d actions, 32-d states and a 32x32x3 camera, so
that low-dim blocks lie between image bytes as in real files) is written as .knb and as a robomimic HDF5. Both
are read as BC windows: actions ``range(16)`` (robomimic ``seq_length=16``, edge-padded) and the current state,
batch 256, shuffled, one full epoch, no model. Values of the first samples are checked equal between the two.

"Cold" means the files' pages are evicted from the page cache first (``posix_fadvise(DONTNEED)``: no root
needed); every cold row starts from an evicted file. Rows:

- kinonb ``Loader`` over ``KinoDataset``, warm (the baseline of the kinonb ratios);
- the same, cold, with the automatic prefetch of the low-dim blocks (``SampleIndex.prefetch``), its time in;
- the same, cold, with the prefetch switched off (what kinonb did before);
- robomimic ``SequenceDataset(hdf5_cache_mode="all")`` through ``DataLoader(workers=0)``, cold and warm, its
  cache build (reading every demo into RAM) counted in the epoch (the first batch waits for it).

Time to first batch is a fresh Python process each: import, open, build the dataset and take one batch, warm
and cold. robomimic is optional (``pip install robomimic==0.3.0 --no-deps h5py psutil tqdm termcolor``); its
rows are skipped when it is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import print_and_save
from .sources import Source, synthetic_source, write_hdf5, write_knb

SEQ = 16
BATCH = 256


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def source(episodes: int, frames: int) -> Source:
    src = synthetic_source(episodes, frames, 7, 32)
    rng = np.random.default_rng(1)
    src.images = [rng.integers(0, 255, (frames, 32, 32, 3), np.uint8) for _ in range(episodes)]
    return src


def kinonb_dataset(path: Path):
    from kinonb.torch import KinoDataset

    return KinoDataset(path, windows={"actions": range(SEQ), "states": [0]}, actions_only=True)


def kinonb_epoch(path: Path, prefetch: bool = True) -> tuple[float, int]:
    from kinonb.sampling.index import SampleIndex
    from kinonb.torch import Loader

    saved = SampleIndex.prefetch
    if not prefetch:
        SampleIndex.prefetch = lambda self: 0
    try:
        t0 = time.perf_counter()
        n = sum(len(b["actions"]) for b in Loader(kinonb_dataset(path), BATCH, shuffle=True, seed=0))
        return time.perf_counter() - t0, n
    finally:
        SampleIndex.prefetch = saved


def robomimic_dataset(path: Path, cache_mode: str | None = "all"):
    import robomimic.utils.obs_utils as obs_utils
    from robomimic.utils.dataset import SequenceDataset

    obs_utils.initialize_obs_utils_with_obs_specs({"obs": {"low_dim": ["state"], "rgb": []}})
    return SequenceDataset(hdf5_path=str(path), obs_keys=("state",), dataset_keys=("actions",), frame_stack=1,
                           seq_length=SEQ, pad_frame_stack=True, pad_seq_length=True, get_pad_mask=False,
                           goal_mode=None, hdf5_cache_mode=cache_mode, hdf5_use_swmr=True, hdf5_normalize_obs=False,
                           filter_by_attribute=None, load_next_obs=False)


def quiet(fn, *args):
    """``fn(*args)`` with its stdout and stderr (robomimic's progress bars) swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args)


def robomimic_epoch(path: Path) -> tuple[float, int]:
    from torch.utils.data import DataLoader

    t0 = time.perf_counter()
    ds = quiet(robomimic_dataset, path)  # it prints progress bars
    n = sum(len(b["actions"]) for b in DataLoader(ds, BATCH, shuffle=True, num_workers=0))
    return time.perf_counter() - t0, n


def check_equal(knb: Path, h5: Path) -> None:
    import kinonb

    ds = quiet(robomimic_dataset, h5)
    index = kinonb.open(knb).sample_index({"actions": range(SEQ), "states": [0]})
    ids = np.unique(np.minimum([0, 1, 150, 195, 199, 200, 1234 % len(ds), len(ds) - 1], len(ds) - 1))
    got = index.read(ids)
    for k, i in enumerate(ids):
        want = ds[int(i)]
        assert np.array_equal(got["actions"][k], want["actions"]), f"actions of sample {i} differ"
        assert np.array_equal(got["states"][k, 0], want["obs"]["state"][0]), f"state of sample {i} differ"


FIRST_BATCH = {
    "kinonb": ("import kinonb.torch as kt\n"
               "ds = kt.KinoDataset({path!r}, windows={{'actions': range(16), 'states': [0]}}, actions_only=True)\n"
               "next(iter(kt.Loader(ds, 256, shuffle=True, seed=0)))\n"),
    "robomimic": ("import contextlib, io, sys\nsys.path.insert(0, {root!r})\n"
                  "from {module} import robomimic_dataset\nfrom torch.utils.data import DataLoader\n"
                  "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
                  "    ds = robomimic_dataset({path!r})\n"
                  "next(iter(DataLoader(ds, 256, shuffle=True)))\n"),
}


def first_batch_s(kind: str, path: Path, cold: bool) -> float:
    """Wall time of a fresh ``python -c`` that imports, opens and takes one batch (median of 3)."""
    module = __spec__.name if __spec__ is not None else __name__  # bench.bench_cold, or kinonb.bench.bench_cold
    code = FIRST_BATCH[kind].format(path=str(path), root=str(Path(__file__).resolve().parents[1]), module=module)
    times = []
    for _ in range(3):
        if cold:
            evict(path)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return sorted(times)[1]


def run(episodes: int, frames: int, tmp: Path) -> dict:
    src = source(episodes, frames)
    knb, h5 = tmp / "d.knb", tmp / "d.hdf5"
    write_knb(src, knb)
    try:
        import robomimic  # noqa: F401

        write_hdf5(src, h5)
        check_equal(knb, h5)
        peer = True
    except ImportError:
        peer = False
    rows = {}
    kinonb_epoch(knb)  # JIT load and first page faults out of the warm figure
    rows["kinonb Loader, warm"] = kinonb_epoch(knb)
    evict(knb)
    rows["kinonb Loader, cold, prefetch (default)"] = kinonb_epoch(knb)
    evict(knb)
    rows["kinonb Loader, cold, no prefetch (before)"] = kinonb_epoch(knb, prefetch=False)
    if peer:
        evict(h5)
        rows["robomimic cache 'all', cold (cache build included)"] = robomimic_epoch(h5)
        rows["robomimic cache 'all', warm (cache build included)"] = robomimic_epoch(h5)
    first = {}
    for kind, path in (("kinonb", knb), ("robomimic", h5)) if peer else (("kinonb", knb),):
        first[kind] = {"warm": first_batch_s(kind, path, False), "cold": first_batch_s(kind, path, True)}
    return {"episodes": episodes, "frames": frames, "samples": rows["kinonb Loader, warm"][1],
            "file_mb": {"knb": knb.stat().st_size / 1e6, **({"hdf5": h5.stat().st_size / 1e6} if peer else {})},
            "epochs": {k: {"seconds": s, "samples": n} for k, (s, n) in rows.items()}, "first_batch_s": first}


def report(r: dict) -> str:
    warm = r["epochs"]["kinonb Loader, warm"]["seconds"]
    peer = r["epochs"].get("robomimic cache 'all', cold (cache build included)")
    lines = [f"## Cold first epoch: {r['episodes']:,} episodes x {r['frames']} frames, {r['samples']:,} windows "
             f"(files: {', '.join(f'{k} {v:,.0f} MB' for k, v in r['file_mb'].items())})", "",
             "| epoch | seconds | samples/s | vs kinonb warm | vs robomimic cold |", "|---|---:|---:|---:|---:|"]
    for name, e in r["epochs"].items():
        vs_peer = f"{peer['seconds'] / e['seconds']:.2f}x" if peer else "n/a"
        lines.append(f"| {name} | {e['seconds']:.2f} | {e['samples'] / e['seconds']:,.0f} | "
                     f"{warm / e['seconds']:.2f}x | {vs_peer} |")
    lines += ["", "## Import to first batch (a fresh process each, median of 3)", "",
              "| reader | warm s | cold s |", "|---|---:|---:|"]
    for kind, f in r["first_batch_s"].items():
        lines.append(f"| {kind} | {f['warm']:.2f} | {f['cold']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="200 episodes")
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    episodes = 200 if args.quick else args.episodes
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-cold-") as tmp:
        r = run(episodes, args.frames, Path(tmp))
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
