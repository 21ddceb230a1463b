"""Camera bench (issue 14): bytes on disk, windowed image batches and an image BC loop, kinonb against LeRobot and
PyAV, one run, same episodes.

    python -m bench.bench_cameras [--episodes 1,2] [--lerobot-python PATH] [--repeats 3] [--samples 256]

Data: the Unitree G1 LeRobot v2.1 episodes that have videos (../shared/datasets; the bench exits cleanly when
it is absent). Cases, each skipped with a line saying why when its piece is missing:

1. Bytes on disk: the source (mp4 + parquet of those episodes) and kinonb ingests of them: video (packets
   copied), JPEG q90 (``transcode="jpeg"``), lz4, raw; and the LeRobot v3.0 export of the video file that case
   2 loads in LeRobot (LeRobot 0.6 reads v3.0 only; the export copies the packets, so equal bytes).
2. Windowed image batches, two frames of history, 224x224 CHW float32 (bilinear), batch 32, random windows,
   samples/s per core (the process pinned to one CPU): PyAV alone decoding every requested frame (seek to the
   keyframe, decode forward: the decode ceiling), kinonb ``SampleIndex.read`` on the video / JPEG / lz4 files,
   and LeRobot's ``LeRobotDataset`` with ``delta_timestamps`` (pyav backend, full-size frames: no resize, which
   favours it) run by ``--lerobot-python`` (default $KINONB_LEROBOT_PYTHON or /work/venv312/bin/python; setup in
   docs/bench/cameras.md). Also kinonb video on every CPU. The first batch is warm-up (JIT), reported apart;
   the median of the repeats.
3. Image BC loop: a small CNN on 96x96 (two frames stacked), batch 64, DataLoader workers 0 and 2, every CPU:
   the share of the step spent waiting for data, kinonb JPEG / video against LeRobot.
Ratios are printed against the baselines measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
G1 = ROOT.parent / "shared" / "datasets" / "lerobot_v21_unitree_g1_inspire_pick_bottle"
CAM = "observation.images.cam_high"
HISTORY, SIZE, BATCH = 2, 224, 32
BC_SIZE, BC_BATCH, BC_STEPS = 96, 64, 8  # 736 samples: 11 batches an epoch


def source_bytes(root: Path, episodes) -> int:
    """The mp4 of ``episodes`` and the parquet of episodes 0..max (what the kinonb ingests hold)."""
    total = sum((root / "data" / "chunk-000" / f"episode_{e:06d}.parquet").stat().st_size
                for e in range(max(episodes) + 1))
    return total + sum((root / "videos" / "chunk-000" / CAM / f"episode_{e:06d}.mp4").stat().st_size
                       for e in episodes)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def ingests(root: Path, episodes, tmp: Path) -> dict:
    """{label: path} of the kinonb ingests (LeRobot's first ``max(episodes) + 1`` episodes; those without video
    hold their low-dim columns only and are skipped by the sample index)."""
    from kinonb.interop.ingest.lerobot import ingest_lerobot

    out = {}
    for label, transcode in (("video", None), ("jpeg q90", "jpeg"), ("lz4", "lz4"), ("raw", "raw")):
        path = tmp / f"{label.split()[0]}.knb"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ingest_lerobot(root, path, max_episodes=max(episodes) + 1, transcode=transcode)
        out[label] = path
    return out


def video_subset(path: Path, episodes, out: Path) -> Path:
    """The video file's ``episodes`` alone, packets copied as stored (what LeRobot gets, through the export)."""
    import kinonb

    db = kinonb.open(path)
    with kinonb.create(out) as w:
        for p in range(db.num_episodes()):
            meta = db.read_meta(p)
            if int(meta["episode_id"]) in episodes:
                ep = db.read_episode(p, raw_frames=True)
                w.add_episode(ep["actions"], ep["states"], images=ep["images"], task=meta["task"],
                              fps=meta["fps"], episode_id=int(meta["episode_id"]))
    return out


def windows(lengths: dict, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """n random (episode, frame) pairs; frame >= HISTORY - 1 so both history frames exist."""
    rng = np.random.default_rng(seed)
    eps = sorted(lengths)
    return [(int(e), int(rng.integers(HISTORY - 1, lengths[e]))) for e in rng.choice(eps, n)]


def pyav_ceiling(root: Path, pairs) -> float:
    """Seconds to decode every requested frame with PyAV alone (seek to the keyframe before, decode forward)."""
    import av

    t0 = time.perf_counter()
    for e, f in pairs:
        with av.open(str(root / "videos" / "chunk-000" / CAM / f"episode_{e:06d}.mp4")) as c:
            s = c.streams.video[0]
            s.thread_count = 1
            step = 1 / float(s.average_rate) / float(s.time_base)
            c.seek(int((f - HISTORY + 1) * step), stream=s, backward=True, any_frame=False)
            got = 0
            for fr in c.decode(s):
                k = round(fr.pts / step)
                if k > f:
                    break
                if k >= f - HISTORY + 1:
                    fr.to_ndarray(format="rgb24")
                    got += 1
            assert got == HISTORY, (e, f, got)
    return time.perf_counter() - t0


class KinonbBatches:
    """``SampleIndex.read`` of the requested windows, BATCH samples a call."""

    def __init__(self, path: Path):
        import kinonb

        self.index = kinonb.open(path).sample_index({CAM: list(range(1 - HISTORY, 1))}, missing="skip")
        db = self.index.db
        ep_id = [int(db.read_meta(p)["episode_id"]) for p in range(db.num_episodes())]
        self.where = {(ep_id[p], t): i for i, (p, t) in enumerate(zip(self.index.sample_episodes.tolist(),
                                                                     self.index.sample_frames.tolist()))}

    def __call__(self, pairs) -> float:
        ids = np.array([self.where[p] for p in pairs], np.int64)
        t0 = time.perf_counter()
        for i in range(0, len(ids), BATCH):
            self.index.read(ids[i : i + BATCH], image_size=(SIZE, SIZE), layout="CHW", normalize=True)
        return time.perf_counter() - t0


LEROBOT = """
import json, sys, time, torch
torch.set_num_threads(1)
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, pairs, fps, cam = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ds = LeRobotDataset(repo_id="local/g1", root=root, delta_timestamps={cam: [-1 / fps, 0.0]}, video_backend="pyav")
ep_ids = json.loads(sys.argv[5])  # source episode id of each exported episode, in order
base = {e: int(ds.meta.episodes["dataset_from_index"][i]) for i, e in enumerate(ep_ids)}
def run(ps):
    t0 = time.perf_counter()
    for e, f in ps:
        x = ds[base[e] + f][cam]
        assert x.shape[0] == 2, x.shape
    return time.perf_counter() - t0
warm = run(pairs[:8])
print(json.dumps({"seconds": [run(pairs) for _ in range(int(sys.argv[6]))], "warm": warm}))
"""


def lerobot_run(python: str, script: str, *args, timeout=1800):
    if not python or not Path(python).is_file():
        return None, f"skipped: no Python with lerobot ({python or 'none given'})"
    r = subprocess.run([python, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    if r.returncode:
        return None, f"skipped: LeRobot failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}"
    return json.loads(r.stdout.strip().splitlines()[-1]), ""


def median_rate(fn, pairs, repeats: int) -> tuple[float, float]:
    """(samples/s, median of the repeats after one warm-up batch; warm-up seconds)."""
    warm = fn(pairs[:BATCH])
    times = [fn(pairs) for _ in range(repeats)]
    return len(pairs) / statistics.median(times), warm


def bytes_table(files: dict, src: int, lerobot_dir: Path | None, episodes) -> None:
    print(f"## Bytes on disk (camera of episodes {episodes}, low-dim of 0..{max(episodes)})\n")
    print(f"| store | bytes | vs source |\n|---|---:|---:|\n| source mp4 + parquet (LeRobot v2.1) | {src:,} | 1.00x |")
    for label, p in files.items():
        print(f"| kinonb {label} | {p.stat().st_size:,} | {p.stat().st_size / src:.2f}x |")
    if lerobot_dir is not None:
        n = dir_bytes(lerobot_dir)
        print(f"| LeRobot v3.0 export of kinonb video (what LeRobot reads below) | {n:,} | {n / src:.2f}x |")


def batch_table(args, files, pairs, lerobot_dir, ep_ids, cores_all) -> None:
    print(f"\n## Windowed batches ({HISTORY} frames, {SIZE}x{SIZE} CHW float32, batch {BATCH}, {len(pairs)} "
          f"random windows), samples/s per core (pinned to 1 CPU)\n")
    print("| case | samples/s per core | vs PyAV ceiling | vs LeRobot | warm-up (first batch) |\n|---|---:|---:|---:|---:|")
    ceiling, warm = median_rate(lambda p: pyav_ceiling(G1, p), pairs, args.repeats)
    got, why = lerobot_run(args.lerobot_python, LEROBOT, lerobot_dir, json.dumps(pairs), 30.0, CAM,
                           json.dumps(ep_ids), args.repeats) if lerobot_dir else (None, "skipped: no export")
    lr = len(pairs) / statistics.median(got["seconds"]) if got else None
    ratio = (lambda r: f"{r / lr:.2f}x") if lr else (lambda r: "")
    print(f"| PyAV alone, decode only (ceiling) | {ceiling:.1f} | 1.00x | {ratio(ceiling)} | {warm:.2f} s |")
    rows = {}
    for label in ("video", "jpeg q90", "lz4"):
        rate, warm = median_rate(KinonbBatches(files[label]), pairs, args.repeats)
        rows[label] = rate
        print(f"| kinonb {label} SampleIndex.read | {rate:.1f} | {rate / ceiling:.2f}x | {ratio(rate)} | "
              f"{warm:.2f} s |")
    if lr:
        print(f"| LeRobotDataset delta_timestamps (pyav, no resize) | {lr:.1f} | {lr / ceiling:.2f}x | 1.00x | "
              f"{got['warm']:.2f} s (8 samples) |")
    else:
        print(f"| LeRobotDataset delta_timestamps | {why} | | | |")
    os.sched_setaffinity(0, cores_all)
    import kinonb

    kinonb.set_decode_threads(len(cores_all))
    rate, _ = median_rate(KinonbBatches(files["video"]), pairs, args.repeats)
    print(f"| kinonb video, {len(cores_all)} CPUs (decode pool of {len(cores_all)}), total samples/s | {rate:.1f} | "
          f"{rate / ceiling:.2f}x (vs 1-core ceiling) | {ratio(rate)} | |")
    kinonb.set_decode_threads(None)


BC_MODEL = """
import time, torch
from torch import nn

def bc_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(6, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                         nn.Conv2d(32, 32, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 26))

def bc_loop(loader, image_of, steps):
    # (data seconds, step seconds) over steps steps after two warm-up steps
    model = bc_model()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    it = iter(loader)
    data = step = 0.0
    for k in range(steps + 2):
        t0 = time.perf_counter()
        x = image_of(next(it))
        t1 = time.perf_counter()
        loss = model(x.reshape(len(x), -1, x.shape[-2], x.shape[-1])).square().mean()
        opt.zero_grad(); loss.backward(); opt.step()
        t2 = time.perf_counter()
        if k >= 2:
            data, step = data + t1 - t0, step + t2 - t1
    return data, step
"""

LEROBOT_BC = BC_MODEL + """
import json, sys
torch.set_num_threads(1)
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, fps, cam, workers, steps, size, batch = sys.argv[1], float(sys.argv[2]), sys.argv[3], *map(int, sys.argv[4:8])

class Resized(torch.utils.data.Dataset):  # the 96x96 the model takes, made in the workers
    def __init__(self):
        self.ds = LeRobotDataset(repo_id="local/g1", root=root, delta_timestamps={cam: [-1 / fps, 0.0]},
                                 video_backend="pyav")
    def __len__(self):
        return len(self.ds)
    def __getitem__(self, i):
        x = self.ds[i][cam]
        return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=False)

loader = torch.utils.data.DataLoader(Resized(), batch_size=batch, shuffle=True, num_workers=workers,
                                     generator=torch.Generator().manual_seed(0))
print(json.dumps(bc_loop(loader, lambda b: b, steps)))
"""


def kinonb_bc(path: Path, workers: int) -> tuple[float, float]:
    import torch

    from kinonb.torch import KinoDataset

    scope: dict = {}
    exec(BC_MODEL, scope)  # one model and loop for every case
    torch.set_num_threads(1)
    ds = KinoDataset(str(path), windows={CAM: list(range(1 - HISTORY, 1))}, image_size=(BC_SIZE, BC_SIZE),
                     resize_mode="bilinear", missing="skip")
    loader = torch.utils.data.DataLoader(ds, batch_size=BC_BATCH, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(0))
    return scope["bc_loop"](loader, lambda b: b[CAM], BC_STEPS)


def bc_table(args, files, lerobot_dir) -> None:
    print(f"\n## Image BC loop (CNN on {HISTORY}x{BC_SIZE}x{BC_SIZE}, batch {BC_BATCH}, {BC_STEPS} steps after 2 "
          f"warm-up, every CPU, torch 1 thread): data share of the step\n")
    print("| case | workers | data s/step | compute s/step | data share | step vs LeRobot |\n"
          "|---|---:|---:|---:|---:|---:|")
    for workers in (0, 2):
        got, why = lerobot_run(args.lerobot_python, LEROBOT_BC, lerobot_dir, 30.0, CAM, workers, BC_STEPS, BC_SIZE,
                               BC_BATCH) if lerobot_dir else (None, "skipped: no export")
        lr_step = (got[0] + got[1]) / BC_STEPS if got else None
        for label in ("jpeg q90", "video"):
            data, step = kinonb_bc(files[label], workers)
            total = (data + step) / BC_STEPS
            vs = f"{lr_step / total:.2f}x faster" if lr_step else ""
            print(f"| kinonb {label} | {workers} | {data / BC_STEPS:.4f} | {step / BC_STEPS:.4f} | "
                  f"{data / (data + step):.0%} | {vs} |")
        if got:
            print(f"| LeRobotDataset | {workers} | {got[0] / BC_STEPS:.4f} | {got[1] / BC_STEPS:.4f} | "
                  f"{got[0] / (got[0] + got[1]):.0%} | 1.00x |")
        else:
            print(f"| LeRobotDataset | {workers} | {why} | | | |")


def lerobot_export(files: dict, episodes, tmp: Path):
    from kinonb.ops.export_lerobot import export_lerobot

    out = tmp / "lerobot_v30"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_lerobot(video_subset(files["video"], episodes, tmp / "subset.knb"), out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", default="1,2")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-bc", action="store_true")
    ap.add_argument("--skip-batches", action="store_true")
    ap.add_argument("--lerobot-python", default=os.environ.get("KINONB_LEROBOT_PYTHON", "/work/venv312/bin/python"))
    args = ap.parse_args(argv)
    if not (G1 / "videos").is_dir():
        print(f"skipped: {G1} is absent")
        return 0
    cores_all = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores_all)})  # per core: one CPU, before kinonb sizes its pools
    episodes = [int(x) for x in args.episodes.split(",")]
    rows = [json.loads(line) for line in (G1 / "meta" / "episodes.jsonl").read_text().splitlines() if line.strip()]
    lengths = {int(r["episode_index"]): int(r["length"]) for r in rows if int(r["episode_index"]) in episodes}
    pairs = windows(lengths, args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        files = ingests(G1, episodes, Path(tmp))
        lerobot_dir = lerobot_export(files, episodes, Path(tmp))
        bytes_table(files, source_bytes(G1, episodes), lerobot_dir, episodes)
        if not args.skip_batches:
            batch_table(args, files, pairs, lerobot_dir, episodes, cores_all)
        os.sched_setaffinity(0, cores_all)
        if not args.skip_bc:
            bc_table(args, files, lerobot_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
