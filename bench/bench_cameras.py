"""Camera bench (issue 14): bytes on disk and windowed image batches, kinonb against LeRobot and PyAV, one run.

    python -m bench.bench_cameras [--episodes 1,2] [--lerobot-python PATH] [--repeats 5]

Data: the Unitree G1 LeRobot v2.1 episodes that have videos (../shared/datasets; the bench exits cleanly when
it is absent). Cases, each skipped with a line saying why when its piece is missing:

1. Bytes on disk: the source (mp4 + parquet of those episodes) and kinonb ingests of them: video (packets
   copied; needs the codec layer, kinonb/codecs), JPEG q90 (``--transcode jpeg``; codec layer), lz4, raw.
2. Windowed image batches, two frames of history, 224x224 CHW float32, batch 32, random windows, samples/s per
   core: PyAV alone decoding every requested frame (the decode ceiling, measured here), kinonb files (through
   ``kinonb.torch`` when present), and LeRobot's ``LeRobotDataset`` with ``delta_timestamps`` on the same
   episodes, run by ``--lerobot-python`` (default $KINONB_LEROBOT_PYTHON or /work/venv312/bin/python; setup in
   docs/bench/cameras.md). The first batch of each case is warm-up, reported apart; the median of the repeats.
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


def source_bytes(root: Path, episodes) -> int:
    total = 0
    for e in episodes:
        total += (root / "data" / "chunk-000" / f"episode_{e:06d}.parquet").stat().st_size
        total += (root / "videos" / "chunk-000" / CAM / f"episode_{e:06d}.mp4").stat().st_size
    return total


def ingests(root: Path, episodes, tmp: Path) -> dict:
    """{label: path or the reason it was skipped} of the kinonb ingests (first ``max(episodes) + 1`` episodes;
    the ones without video hold no camera and only their low-dim columns)."""
    from kinonb.interop.ingest.lerobot import ingest_lerobot

    out = {}
    has_codecs = _has("kinonb.codecs.encoded")
    for label, transcode in (("video", None), ("jpeg q90", "jpeg"), ("lz4", "lz4"), ("raw", "raw")):
        if transcode in (None, "jpeg") and not has_codecs:
            out[label] = "skipped: the codec layer (kinonb/codecs, issue 14) is not in this tree"
            continue
        path = tmp / f"{label.split()[0]}.knb"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ingest_lerobot(root, path, max_episodes=max(episodes) + 1, transcode=transcode)
        out[label] = path
    return out


def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def windows(lengths: dict, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """n random (episode, frame) pairs; frame >= HISTORY - 1 so both history frames exist."""
    rng = np.random.default_rng(seed)
    eps = sorted(lengths)
    return [(int(e), int(rng.integers(HISTORY - 1, lengths[e]))) for e in rng.choice(eps, n)]


def to_chw(frames: np.ndarray) -> np.ndarray:
    """(k, H, W, 3) uint8 -> (k, 3, SIZE, SIZE) float32 in [0, 1] (nearest resize: the same for every case)."""
    h, w = frames.shape[1:3]
    ys, xs = np.arange(SIZE) * h // SIZE, np.arange(SIZE) * w // SIZE
    return frames[:, ys][:, :, xs].transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def pyav_ceiling(root: Path, pairs) -> float:
    """Seconds to decode every requested frame with PyAV alone (seek to the keyframe before, decode forward)."""
    import av

    t0 = time.perf_counter()
    out = []
    for e, f in pairs:
        with av.open(str(root / "videos" / "chunk-000" / CAM / f"episode_{e:06d}.mp4")) as c:
            s = c.streams.video[0]
            step = 1 / float(s.average_rate) / float(s.time_base)
            c.seek(int((f - HISTORY + 1) * step), stream=s, backward=True, any_frame=False)
            got = {}
            for fr in c.decode(s):
                k = round(fr.pts / step)
                if k > f:
                    break
                if k >= f - HISTORY + 1:
                    got[k] = fr.to_ndarray(format="rgb24")
            out.append(to_chw(np.stack([got[k] for k in range(f - HISTORY + 1, f + 1)])))
    return time.perf_counter() - t0


def kinonb_batches(path: Path, pairs, cam: str) -> float:
    import kinonb

    db = kinonb.open(path)
    t0 = time.perf_counter()
    for e, f in pairs:
        frames = db.frames(e, cam, f - HISTORY + 1, f + 1) if hasattr(db, "frames") else \
            db.read_episode(e)["images"][cam][f - HISTORY + 1:f + 1]
        to_chw(np.asarray(frames))
    return time.perf_counter() - t0


LEROBOT = """
import json, sys, time, torch
torch.set_num_threads(1)
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, pairs, fps = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
eps = sorted({e for e, _ in pairs})
ds = LeRobotDataset(repo_id="local/g1", root=root, episodes=eps,
                    delta_timestamps={"%s": [-1 / fps, 0.0]})
starts = {e: int(ds.meta.episodes["dataset_from_index"][e]) for e in eps}
pos = {e: i for i, e in enumerate(sorted(set(int(x) for x in ds.hf_dataset["episode_index"])))}
base, acc = {}, 0
for e in sorted(pos):
    base[e] = acc; acc += int(ds.meta.episodes["length"][e])
t0 = time.perf_counter()
for e, f in pairs:
    x = ds[base[e] + f]["%s"]
print(json.dumps({"seconds": time.perf_counter() - t0}))
""" % (CAM, CAM)


def lerobot_seconds(python: str, root: Path, pairs, fps: float):
    if not python or not Path(python).is_file():
        return None, f"skipped: no Python with lerobot ({python or 'none given'})"
    r = subprocess.run([python, "-c", LEROBOT, str(root), json.dumps(pairs), str(fps)], capture_output=True,
                       text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}, timeout=900)
    if r.returncode:
        return None, f"skipped: LeRobot failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}"
    return json.loads(r.stdout.strip().splitlines()[-1])["seconds"], ""


def median_rate(fn, pairs, repeats: int) -> tuple[float, float]:
    """(samples/s, median of the repeats after one warm-up; warm-up seconds)."""
    warm = fn(pairs[:BATCH])
    times = [fn(pairs) for _ in range(repeats)]
    return len(pairs) / statistics.median(times), warm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", default="1,2")
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lerobot-python", default=os.environ.get("KINONB_LEROBOT_PYTHON", "/work/venv312/bin/python"))
    args = ap.parse_args(argv)
    if not (G1 / "videos").is_dir():
        print(f"skipped: {G1} is absent")
        return 0
    episodes = [int(x) for x in args.episodes.split(",")]
    rows = [json.loads(line) for line in (G1 / "meta" / "episodes.jsonl").read_text().splitlines() if line.strip()]
    lengths = {int(r["episode_index"]): int(r["length"]) for r in rows if int(r["episode_index"]) in episodes}
    pairs = windows(lengths, args.samples)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        files = ingests(G1, episodes, Path(tmp))
        src = source_bytes(G1, episodes)
        print(f"## Bytes on disk (episodes {episodes}; kinonb files also hold episodes 0..{max(episodes)} low-dim)")
        print(f"| store | bytes | vs source |\n|---|---:|---:|\n| source mp4 + parquet | {src:,} | 1.00x |")
        for label, p in files.items():
            line = f"| kinonb {label} | {p.stat().st_size:,} | {p.stat().st_size / src:.2f}x |" \
                if isinstance(p, Path) else f"| kinonb {label} | {p} | |"
            print(line)
        print(f"\n## Windowed batches ({HISTORY} frames, {SIZE}x{SIZE} CHW float32), samples/s per core ({cores} cores"
              " visible, one used)")
        ceiling, warm = median_rate(lambda p: pyav_ceiling(G1, p), pairs, args.repeats)
        print(f"| PyAV decode ceiling | {ceiling:.1f} | 1.00x of ceiling | warm-up {warm:.2f} s |")
        for label, p in files.items():
            if isinstance(p, Path):
                rate, warm = median_rate(lambda q, p=p: kinonb_batches(p, q, CAM), pairs, args.repeats)
                print(f"| kinonb {label} | {rate:.1f} | {rate / ceiling:.2f}x of ceiling | warm-up {warm:.2f} s |")
        secs, why = lerobot_seconds(args.lerobot_python, G1, pairs, 30.0)
        if secs is None:
            print(f"| LeRobotDataset delta_timestamps | {why} | | |")
        else:
            print(f"| LeRobotDataset delta_timestamps | {len(pairs) / secs:.1f} | {len(pairs) / secs / ceiling:.2f}x "
                  "of ceiling | (one pass, its own warm-up inside) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
