"""Kernel benchmarks: window gather, resize, lz4 decode, compile and first-batch times, parallel thresholds.

    python -m bench.bench_kernels [--quick]

Every timing is the median of >= 5 runs after a warm-up call (JIT time is reported apart, in section c),
timed round-robin with its baselines in the same run, so that a busy machine slows all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import competing_load

ROOT = Path(__file__).resolve().parents[1]


def interleaved(fns: dict, runs: int) -> dict:
    """Median seconds per call of each function, timed round-robin so that a noisy machine hits all alike."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def table(title, rows, header):
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  " + "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths))))


def gather_bench(tmp: Path, runs: int, n_batches: int):
    """(a) actions-only windows, B=256, W=16, A=7, from a page-cached memmap vs in-RAM vs numpy take."""
    from kinonb.kernels import build_sample_index, gather_windows

    E, L, A, B, W = 1000, 200, 7, 256, 16
    data = np.random.default_rng(0).standard_normal(E * L * A).astype(np.float32)
    path = tmp / "actions.f32"
    data.tofile(path)
    # As kinonb's reader does: a read-only file mapping viewed as a plain ndarray (np.memmap itself costs
    # Numba's dispatcher ~0.7 us more per call to type).
    mm = np.memmap(path, dtype=np.float32, mode="r").view(np.ndarray)
    ram = data.copy()
    ram2d = ram.reshape(-1, A)
    lengths = np.full(E, L, np.int64)
    ep_start = np.arange(E, dtype=np.int64) * L * A
    offsets = np.arange(W, dtype=np.int64)
    ep, t = build_sample_index(lengths, 0, W - 1, "edge")
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, len(ep), B) for _ in range(n_batches)]
    batches = [(ep[i], t[i]) for i in batches]
    take_idx = [np.clip(bt[:, None] + offsets, 0, L - 1) + be[:, None] * L for be, bt in batches]
    out = np.empty((B, W, A), np.float32)
    is_pad = np.empty((B, W), np.bool_)

    import kinonb

    knb = tmp / "actions.knb"
    with kinonb.create(knb, sync=False) as w:
        for e in range(E):
            w.add_episode(actions=data[e * L * A : (e + 1) * L * A].reshape(L, A))
    index = kinonb.open(knb).sample_index({"actions": range(W)})
    sample_ids = [be * L + bt for be, bt in batches]  # every frame is a sample: id = episode * L + t
    reused = {"actions": out}

    def index_read():
        for ids in sample_ids:
            index.read(ids, out=reused)

    # The same index.read (same Python wrapper, same kernel) over an in-RAM copy of the file's bytes.
    index_ram = kinonb.open(knb).sample_index({"actions": range(W)})
    index_ram.keys["actions"].flat = np.array(index_ram.keys["actions"].flat)

    def index_read_ram():
        for ids in sample_ids:
            index_ram.read(ids, out=reused)

    def kernel_on(flat):
        def run():
            for be, bt in batches:
                gather_windows(flat, ep_start, lengths, A, be, bt, offsets, out, is_pad)

        return run

    def numpy_take():
        for idx in take_idx:
            np.take(ram2d, idx, axis=0, out=out)

    def numpy_full():
        for be, bt in batches:
            f = bt[:, None] + offsets
            is_pad[:] = (f < 0) | (f >= L)
            np.take(ram2d, np.clip(f, 0, L - 1) + be[:, None] * L, axis=0, out=out)

    times = interleaved({
        "same Numba loop, in-RAM array": kernel_on(ram),
        "kinonb kernel, memmap (page cache)": kernel_on(mm),
        "kinonb index.read, .knb file (page cache)": index_read,
        "same index.read over an in-RAM copy": index_read_ram,
        "numpy np.take, indices precomputed": numpy_take,
        "numpy index math + np.take + mask": numpy_full,
    }, runs)
    rates = {k: n_batches / v for k, v in times.items()}
    base_ram = rates["same Numba loop, in-RAM array"]
    base_np = rates["numpy np.take, indices precomputed"]
    rows = [(k, f"{v:,.0f}", f"{1e6 / v:.1f}", f"{v / base_ram:.2f}x", f"{v / base_np:.2f}x") for k, v in rates.items()]
    table("(a) window gather B=256 W=16 A=7 float32, 1000 episodes x 200 frames", rows,
          ("method", "batches/s", "us/batch", "vs Numba RAM", "vs np.take"))
    return rates


def resize_bench(runs: int):
    """(b) 96x96 -> 224x224 bilinear to CHW float32 in [0, 1], batch 64, one thread."""
    import numba
    import torch
    import torch.nn.functional as F

    from kinonb.sampling.resize import resize

    threads = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        x = np.random.default_rng(0).integers(0, 256, (64, 96, 96, 3), dtype=np.uint8)
        xt = torch.from_numpy(x)
        out = np.empty((64, 3, 224, 224), np.float32)
        size = (224, 224)
        times = interleaved({
            "kinonb.resize (fused, out=)": lambda: resize(x, size, "bilinear", layout="CHW", normalize=True, out=out),
            "torch: permute, float, interpolate, /255": lambda: F.interpolate(
                xt.permute(0, 3, 1, 2).float(), size=size, mode="bilinear", align_corners=False).div_(255),
            "torch: permute, interpolate uint8, float /255, contiguous": lambda: F.interpolate(
                xt.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False).float().div_(255).contiguous(),
            "torch: same, left channels_last (not CHW in memory)": lambda: F.interpolate(
                xt.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False).float().div_(255),
        }, runs)
    finally:
        numba.set_num_threads(threads[0])
        torch.set_num_threads(threads[1])
    ours = times["kinonb.resize (fused, out=)"]
    rows = [(k, f"{v * 1e3:.2f}", f"{v / ours:.2f}x") for k, v in times.items()]
    table("(b) resize 64 x 96x96x3 uint8 -> 64 x 3x224x224 float32, bilinear, 1 thread", rows,
          ("method", "ms/batch", "kinonb speedup"))
    return times


FIRST_BATCH = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import kinonb
t1 = time.perf_counter()
path, kind = sys.argv[1], sys.argv[2]
db = kinonb.open(path)
windows = {"actions": range(16), "states": [0]} if kind == "lowdim" else {"actions": range(16), "top": [0]}
index = db.sample_index(windows)
t2 = time.perf_counter()
ids = np.random.default_rng(0).integers(0, len(index), 256 if kind == "lowdim" else 64)
if kind == "lowdim":
    index.read(ids)
else:
    index.read(ids, image_size=(224, 224), layout="CHW", normalize=True)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "index": t2 - t1, "first_batch": t3 - t2, "total": t3 - t0}))
"""


def startup_files(tmp: Path) -> dict:
    """A low-dim file (1000 x 200 frames, 7-d actions, 32-d states) and a Push-T-like image file (50 x 100
    frames of 96x96x3, lz4): what a first training batch reads."""
    import kinonb

    rng = np.random.default_rng(0)
    files = {"lowdim": tmp / "lowdim.knb", "image": tmp / "image.knb"}
    with kinonb.create(files["lowdim"], overwrite=True) as w:
        for _ in range(1000):
            w.add_episode(actions=rng.standard_normal((200, 7)).astype(np.float32),
                          states=rng.standard_normal((200, 32)).astype(np.float32))
    with kinonb.create(files["image"], compression="lz4", overwrite=True) as w:
        for e in range(50):
            w.add_episode(actions=rng.standard_normal((100, 2)).astype(np.float32),
                          images={"top": np.stack([image_like(e * 100 + i, 96) for i in range(100)])})
    return files


def startup_bench(tmp: Path, runs: int):
    """(c) import -> first batch, low-dim and image, each in a fresh interpreter, with an empty Numba cache
    (everything it runs compiles) and with the cache that run filled (the usual second start)."""
    files = startup_files(tmp)
    results = {}
    for kind, path in files.items():
        cache = tmp / f"numba_cache_{kind}"
        shutil.rmtree(cache, ignore_errors=True)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        if (ROOT / "kinonb").is_dir():  # a source checkout: its kinonb (installed as kinonb.bench: the installed one)
            env["PYTHONPATH"] = str(ROOT)

        def child():
            proc = subprocess.run([sys.executable, "-c", FIRST_BATCH, str(path), kind], env=env,
                                  capture_output=True, text=True, check=True)
            return json.loads(proc.stdout.strip().splitlines()[-1])

        cold = child()
        warm = [child() for _ in range(runs)]
        results[kind] = (cold, {k: float(np.median([w[k] for w in warm])) for k in warm[0]})
    rows = []
    for kind, label in (("lowdim", "low-dim (256 x 16-frame actions + states)"),
                        ("image", "image (64 lz4 96x96 frames -> 3x224x224 f32)")):
        for state, r in zip(("empty Numba cache", "warm cache (median)"), results[kind]):
            rows.append((f"{label}, {state}", f"{r['import']:.2f}", f"{r['index']:.2f}", f"{r['first_batch']:.2f}",
                         f"{r['total']:.2f}"))
    table("(c) import kinonb -> sample_index -> first batch, fresh interpreter", rows,
          ("case", "import s", "index s", "first batch s", "total s"))
    return results


def image_like(i: int, side: int) -> np.ndarray:
    """A smooth uint8 frame with 10% noisy pixels: LZ4 leaves it at ~70%, many short sequences."""
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:side, 0:side]
    f = np.stack([(yy + i) // 3, xx // 2, (yy + xx) // 4], -1).astype(np.uint8)
    noisy = rng.random((side, side)) < 0.1
    f[noisy] = rng.integers(0, 256, (int(noisy.sum()), 3))
    return f


def lz4_bench(runs: int):
    """(d) lz4 block decode of 64 image-like 96x96x3 frames: Numba kernel vs lz4.block.decompress per frame."""
    import lz4.block
    import numba

    from kinonb.kernels.lz4 import decode_frames, lz4_decode_frames

    frames = [image_like(i, 96) for i in range(64)]
    blocks = [lz4.block.compress(f.tobytes(), store_size=False) for f in frames]
    src = np.frombuffer(b"".join(blocks), np.uint8)
    lengths = np.array([len(b) for b in blocks], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    nbytes = frames[0].nbytes
    out = np.empty(64 * nbytes, np.uint8)
    threads = numba.get_num_threads()
    times = interleaved({
        "lz4.block.decompress, Python loop": lambda: [lz4.block.decompress(b, uncompressed_size=nbytes)
                                                      for b in blocks],
        "kinonb serial kernel": lambda: lz4_decode_frames(src, offsets, lengths, nbytes, out),
        f"kinonb decode_frames ({threads} threads)": lambda: decode_frames(src, offsets, lengths, nbytes, out),
    }, runs)
    base = times["lz4.block.decompress, Python loop"]
    mb = 64 * nbytes / 1e6
    rows = [(k, f"{v * 1e3:.2f}", f"{mb / v:,.0f}", f"{base / v:.2f}x") for k, v in times.items()]
    table(f"(d) lz4 decode 64 frames of 96x96x3 (ratio {src.size / (64 * nbytes):.2f})", rows,
          ("method", "ms", "MB/s out", "vs lz4 lib"))
    return times


def threshold_bench(runs: int, regime: str = "quiet"):
    """(e) serial vs split-over-threads per kernel and size, with the default thread count: where the choosers
    switch; ``regime`` names the machine's load for the table."""
    import numba

    from kinonb.kernels import gather
    from kinonb.kernels import lz4 as klz4
    from kinonb.kernels import resize as kr

    rows = []
    E, L = 64, 200
    for R in (7, 64, 512, 4096):
        flat = np.random.default_rng(0).standard_normal(E * L * R).astype(np.float32)
        ep_start = np.arange(E, dtype=np.int64) * L * R
        lengths = np.full(E, L, np.int64)
        for B in (16, 64, 256):
            rng = np.random.default_rng(1)
            se, st = rng.integers(0, E, B), rng.integers(0, L, B)
            offs = np.arange(16, dtype=np.int64)
            out = np.empty((B, 16, R), np.float32)
            pad = np.empty((B, 16), np.bool_)
            args = (flat, ep_start, lengths, R, se, st, offs, out, pad)
            ts, tp = interleaved({"s": lambda: gather.gather_windows_serial(*args),
                                  "p": lambda: gather.gather_windows_parallel(*args)}, runs).values()
            rows.append(("gather", f"B={B} W=16 R={R}", out.size, f"{ts * 1e6:.1f}", f"{tp * 1e6:.1f}",
                         "parallel" if tp < ts else "serial",
                         "parallel" if out.size >= gather.PARALLEL_MIN_ELEMS else "serial"))
    for N, size in ((1, 224), (2, 224), (4, 224), (2, 32), (4, 32), (8, 32), (2, 64), (8, 64)):
        x = np.random.default_rng(0).integers(0, 256, (N, 96, 96, 3), dtype=np.uint8)
        iy, wy, ix, wx = kr.tables(96, 96, 3, size, size, "bilinear", True)
        out = np.empty((N, 3, size, size), np.float32)
        starts = np.arange(N, dtype=np.int64) * x[0].size
        args = (x.reshape(-1), starts, 96, 96, 3, iy, wy, ix, wx, out, True, True)
        ts, tp = interleaved({"s": lambda: kr.separable_serial(*args), "p": lambda: kr.separable_parallel(*args)},
                             runs).values()
        rows.append(("resize", f"N={N} 96->{size}", out.size, f"{ts * 1e6:.1f}", f"{tp * 1e6:.1f}",
                     "parallel" if tp < ts else "serial",
                     "parallel" if out.size >= kr.PARALLEL_MIN_ELEMS and N > 1 else "serial"))
    import lz4.block

    for side in (32, 96):
        frame = image_like(0, side).tobytes()
        block = lz4.block.compress(frame, store_size=False)
        for N in (1, 2, 4, 8, 32):
            src = np.frombuffer(block * N, np.uint8)
            offs = np.arange(N, dtype=np.int64) * len(block)
            lens = np.full(N, len(block), np.int64)
            out = np.empty(N * len(frame), np.uint8)
            ts, tp = interleaved({"s": lambda: klz4.lz4_decode_frames(src, offs, lens, len(frame), out),
                                  "p": lambda: klz4.lz4_decode_frames_parallel(src, offs, lens, len(frame), out)},
                                 runs).values()
            rows.append(("lz4", f"N={N} x {side}x{side}x3", out.size, f"{ts * 1e6:.1f}", f"{tp * 1e6:.1f}",
                         "parallel" if tp < ts else "serial",
                         "parallel" if N > 1 and out.size >= klz4.PARALLEL_MIN_BYTES else "serial"))
    table(f"(e) serial vs parallel, {numba.get_num_threads()} Numba threads, {regime} machine", rows,
          ("kernel", "case", "elems", "serial us", "parallel us", "faster", "chooser picks"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer batches and runs; skip the threshold sweep")
    parser.add_argument("--only", choices=["startup", "thresholds"],
                        help="run one section alone (startup: section c; thresholds: section e, quiet and busy)")
    args = parser.parse_args(argv)
    if args.only == "startup":
        with tempfile.TemporaryDirectory(prefix="kinonb-bench-") as d:
            startup_bench(Path(d), 3)
        return
    runs = 5 if args.quick else 9
    if args.only == "thresholds":
        for regime in ("quiet", "busy"):
            with competing_load(regime == "busy"):
                threshold_bench(runs, regime)
        return
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-") as d:
        tmp = Path(d)
        print(f"kinonb kernel bench (cpus={os.cpu_count()}, runs={runs}, median)")
        rates = gather_bench(tmp, runs, 50 if args.quick else 200)
        times = resize_bench(runs)
        startup = startup_bench(tmp, 3 if args.quick else 5)
        lz4_bench(runs)
        if not args.quick:
            threshold_bench(runs)
    mm = rates["kinonb index.read, .knb file (page cache)"]
    ours = times["kinonb.resize (fused, out=)"]
    print("\nTargets")
    kern = rates["kinonb kernel, memmap (page cache)"]
    print("  window gather, kernel level (precomputed (episode, frame) pairs, as the baselines get):")
    print(f"    memmap kernel / in-RAM Numba loop         {kern / rates['same Numba loop, in-RAM array']:.2f}x (>= 0.7)")
    print(f"    memmap kernel / numpy np.take, precomputed {kern / rates['numpy np.take, indices precomputed']:.2f}x (>= 2)")
    print("  window gather, end to end (db.sample_index(...).read(sample_ids, out=...) on a .knb file):")
    print(f"    .knb index.read / same over in-RAM copy   {mm / rates['same index.read over an in-RAM copy']:.2f}x (>= 0.7)")
    print(f"    .knb index.read / numpy math+take+mask    {mm / rates['numpy index math + np.take + mask']:.2f}x (>= 2)")
    print(f"  torch float path / kinonb resize  {times['torch: permute, float, interpolate, /255'] / ours:.2f}x (>= 3)")
    for kind in ("lowdim", "image"):
        cold, warm = startup[kind]
        print(f"  import -> first {kind} batch: {cold['total']:.2f} s with an empty Numba cache (goal: a few s), "
              f"{warm['total']:.2f} s warm")


if __name__ == "__main__":
    main()
