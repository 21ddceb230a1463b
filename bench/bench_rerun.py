"""kinonb against Rerun's own dataloader on Rerun's own data (issue 19 req 3).

    python -m bench.bench_rerun [--quick] [--episodes N] [--json PATH|-]

The Push-T replay buffer of ``../shared/datasets/`` (206 episodes; a synthetic stand-in of the same shapes when it
is absent) is written twice: as one ``.rrd`` per episode the way a robot logger writes it (``/action`` and
``/state`` as ``rr.Scalars`` on a ``frame_index`` timeline, ``/image`` as a PNG ``rr.EncodedImage``), served by
``rerun.server.Server`` on 127.0.0.1 (started and stopped here), and as one ``.knb`` (``kinonb ingest`` of the
same zarr, camera lz4). Every loader reads the same BC samples: actions ``t .. t+15``, the state at ``t`` and,
in the image rows, the frame at ``t``; windows that leave an episode are dropped (Rerun trims them; kinonb
``pad="none"``), so both index the same samples in the same order, and the first batch of each is checked
equal value for value. Rerun: ``RerunMapDataset`` (a ``DataLoader`` over it; spawn workers, as Rerun asks) and
``RerunIterableDataset``; kinonb: ``KinoDataset`` through the same ``DataLoader``, and the thread ``Loader``.
Time to first batch counts from making the dataset (the server already running; its start is printed apart);
samples/s are counted after the first batch (worker start-up and JIT load are in the first batch's time).
torchvision from PyPI does not import against torch 2.13.0 here; Rerun's ImageDecoder needs only its
``pil_to_tensor``, which ``bench/shims/torchvision`` provides.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import print_and_save

ROOT = Path(__file__).resolve().parents[1]
PUSHT = ROOT.parent / "shared" / "datasets" / "diffusion_policy_pusht_cchi_v7_replay" / "pusht_cchi_v7_replay.zarr"
SHIMS = Path(__file__).resolve().parent / "shims"
SEQ, BATCH = 16, 64


def source(episodes: int | None) -> dict:
    """{"actions", "states", "images" (uint8), "ends"}: Push-T's first ``episodes`` episodes (all: None)."""
    if PUSHT.is_dir():
        import zarr

        g = zarr.open_group(str(PUSHT), mode="r")
        ends = np.asarray(g["meta"]["episode_ends"][:])
        ends = ends[:episodes] if episodes else ends
        n = int(ends[-1])
        return {"actions": np.asarray(g["data"]["action"][:n]), "states": np.asarray(g["data"]["state"][:n]),
                "images": np.asarray(g["data"]["img"][:n]).astype(np.uint8), "ends": ends, "name": "Push-T"}
    rng = np.random.default_rng(0)
    lengths = rng.integers(49, 247, episodes or 206)
    n = int(lengths.sum())
    return {"actions": rng.normal(size=(n, 2)).astype(np.float32), "states": rng.normal(size=(n, 5)).astype(
        np.float32), "images": rng.integers(0, 255, (n, 96, 96, 3), dtype=np.uint8), "ends": np.cumsum(lengths),
            "name": "synthetic (no Push-T in ../shared)"}


def write_rrd(folder: Path, src: dict) -> None:
    """One recording per episode: /action, /state Scalars and /image PNG EncodedImage on frame_index."""
    import rerun as rr
    from PIL import Image

    folder.mkdir()
    starts = np.concatenate([[0], src["ends"][:-1]])
    for e, (a, b) in enumerate(zip(starts.tolist(), src["ends"].tolist())):
        rec = rr.RecordingStream("pusht", recording_id=f"episode_{e:04d}")
        rec.save(str(folder / f"episode_{e:04d}.rrd"))
        index = [rr.TimeColumn("frame_index", sequence=np.arange(b - a))]
        rec.send_columns("/action", indexes=index, columns=rr.Scalars.columns(scalars=src["actions"][a:b]))
        rec.send_columns("/state", indexes=index, columns=rr.Scalars.columns(scalars=src["states"][a:b]))
        pngs = []
        for img in src["images"][a:b]:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            pngs.append(buf.getvalue())
        rec.send_columns("/image", indexes=index, columns=rr.EncodedImage.columns(
            blob=pngs, media_type=["image/png"] * len(pngs)))
        rec.flush()
        rec.disconnect()


def write_knb(path: Path, src: dict) -> None:
    import kinonb

    starts = np.concatenate([[0], src["ends"][:-1]])
    with kinonb.create(path, compression="lz4") as w:
        for a, b in zip(starts.tolist(), src["ends"].tolist()):
            w.add_episode(src["actions"][a:b], src["states"][a:b], images={"image": src["images"][a:b]}, fps=10)


def truth(src: dict, ids: np.ndarray) -> dict:
    """The samples ``ids`` (in the trimmed-window order both sides index): actions window, state, image CHW."""
    starts = np.concatenate([[0], src["ends"][:-1]])
    per = np.maximum(src["ends"] - starts - (SEQ - 1), 0)
    first = np.concatenate([[0], np.cumsum(per)[:-1]])
    e = np.searchsorted(np.cumsum(per), ids, side="right")
    row = starts[e] + ids - first[e]
    return {"actions": src["actions"][row[:, None] + np.arange(SEQ)], "states": src["states"][row],
            "images": src["images"][row].transpose(0, 3, 1, 2)}


def rerun_fields(images: bool) -> dict:
    from rerun.experimental.dataloader import Field, ImageDecoder, NumericDecoder

    fields = {"actions": Field("/action:Scalars:scalars", decode=NumericDecoder(), window=tuple(range(SEQ))),
              "states": Field("/state:Scalars:scalars", decode=NumericDecoder())}
    if images:
        fields["images"] = Field("/image:EncodedImage:blob", decode=ImageDecoder())
    return fields


def kinonb_dataset(path: Path, images: bool):
    from kinonb.torch import KinoDataset

    windows = {"actions": range(SEQ), "states": [0]} | ({"image": [0]} if images else {})
    return KinoDataset(path, windows=windows, pad="none", actions_only=not images, normalize=False)


def check(batch: dict, want: dict, images: bool) -> None:
    def arr(x):
        return np.asarray(x.numpy() if hasattr(x, "numpy") else x)

    assert np.array_equal(arr(batch["actions"]).astype(np.float32), want["actions"]), "actions differ"
    states = arr(batch["states"]).reshape(len(want["states"]), -1)
    assert np.array_equal(states.astype(np.float32), want["states"]), "states differ"
    if images:
        got = arr(batch["images"] if "images" in batch else batch["image"]).reshape(want["images"].shape)
        assert np.array_equal(got.astype(np.uint8), want["images"]), "images differ"


def loader_pass(make, workers: int, samples: int, src: dict, images: bool, *, iterable=False) -> dict:
    """A new dataset and DataLoader: ``samples`` samples (shuffled ids; an iterable dataset in its own order),
    the first batch checked against the source."""
    import torch
    from torch.utils.data import DataLoader, Subset

    t0 = time.perf_counter()
    ds = make()
    ctx = {"multiprocessing_context": "spawn"} if workers else {}
    if iterable:
        ids, loader = np.arange(BATCH), DataLoader(ds, BATCH, num_workers=workers, **ctx)
    else:
        ids = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:samples].numpy()
        loader = DataLoader(Subset(ds, ids.tolist()), BATCH, num_workers=workers, **ctx)
    n, first = 0, None
    for batch in loader:
        if first is None:
            first = time.perf_counter() - t0
            if not (iterable and workers):  # workers interleave an iterable dataset's blocks
                check(batch, truth(src, ids[: len(batch["actions"])]), images)
            t1, n1 = time.perf_counter(), len(batch["actions"])
        n += len(batch["actions"])
        if n >= samples:
            break
    return steady(n, n1, t1, first)


def steady(n: int, n1: int, t1: float, first: float) -> dict:
    """samples/s after the first batch (worker start-up and JIT load are in ``first_batch_s``); with one batch
    only, that batch's rate."""
    rate = (n - n1) / max(time.perf_counter() - t1, 1e-9) if n > n1 else n / max(first, 1e-9)
    return {"samples_per_s": rate, "first_batch_s": first, "samples": n}


def kinonb_loader_pass(path: Path, samples: int, src: dict, images: bool) -> dict:
    from kinonb.torch import Loader

    t0 = time.perf_counter()
    ds = kinonb_dataset(path, images)
    n, first = 0, None
    for batch in Loader(ds, BATCH, shuffle=True, seed=0):
        if first is None:
            first = time.perf_counter() - t0
            t1, n1 = time.perf_counter(), len(batch["actions"])
        n += len(batch["actions"])
        if n >= samples:
            break
    out = steady(n, n1, t1, first)
    check(next(iter(Loader(ds, BATCH, shuffle=False))), truth(src, np.arange(BATCH)), images)
    return out


def run(episodes: int | None, samples: int, tmp: Path, workers=(0, 2)) -> dict:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(SHIMS))  # spawned workers inherit sys.path
    import rerun as rr
    from rerun.experimental.dataloader import DataSource, NoShuffle, RerunIterableDataset, RerunMapDataset
    src = source(episodes)
    t0 = time.perf_counter()
    write_rrd(tmp / "rrd", src)
    rrd_s = time.perf_counter() - t0
    write_knb(tmp / "d.knb", src)
    out = {"source": src["name"], "episodes": len(src["ends"]), "frames": int(src["ends"][-1]), "rows": [],
           "bytes": {"rrd": sum(p.stat().st_size for p in (tmp / "rrd").iterdir()),
                     "knb": (tmp / "d.knb").stat().st_size}, "write_rrd_s": rrd_s}
    t0 = time.perf_counter()
    with rr.server.Server(host="127.0.0.1", port=0, datasets={"pusht": str(tmp / "rrd")}) as server:
        out["server_start_s"] = time.perf_counter() - t0
        data = DataSource(dataset=server.client().get_dataset("pusht"))
        for images in (False, True):
            kind = "images" if images else "low-dim"
            n_peer = samples // 4 if images else samples
            for n_workers in workers:
                cells = {
                    "Rerun RerunMapDataset": loader_pass(
                        lambda: RerunMapDataset(data, "frame_index", rerun_fields(images)), n_workers, n_peer, src,
                        images),
                    "Rerun RerunIterableDataset": loader_pass(
                        lambda: RerunIterableDataset(data, "frame_index", rerun_fields(images),
                                                     shuffle_strategy=NoShuffle()), n_workers, n_peer, src,
                        images, iterable=True),
                    "kinonb KinoDataset": loader_pass(lambda: kinonb_dataset(tmp / "d.knb", images), n_workers,
                                                      samples * 4, src, images),
                }
                out["rows"].append({"kind": kind, "workers": n_workers, "cells": cells})
            out["rows"].append({"kind": kind, "workers": "threads", "cells": {
                "kinonb Loader": kinonb_loader_pass(tmp / "d.knb", samples * 8, src, images)}})
    return out


def report(r: dict) -> str:
    lines = [f"## kinonb vs Rerun's dataloader: {r['source']}, {r['episodes']} episodes, {r['frames']:,} frames", "",
             f"Bytes on disk: .rrd {r['bytes']['rrd']:,} (PNG images), .knb {r['bytes']['knb']:,} (lz4 camera); "
             f"writing the .rrd files took {r['write_rrd_s']:.1f} s, the Rerun server started in "
             f"{r['server_start_s']:.2f} s (not in the rows).", "",
             "| samples | workers | loader | samples/s | first batch s | kinonb / this |",
             "|---|---|---|---:|---:|---:|"]
    best = {}
    for row in r["rows"]:
        for name, cell in row["cells"].items():
            if name.startswith("kinonb"):
                best[row["kind"]] = max(best.get(row["kind"], 0), cell["samples_per_s"])
    for row in r["rows"]:
        kinonb_same = row["cells"].get("kinonb KinoDataset", {}).get("samples_per_s")
        for name, cell in row["cells"].items():
            ratio = "" if name.startswith("kinonb") or not kinonb_same else \
                f"{kinonb_same / cell['samples_per_s']:,.1f}x (same DataLoader), " \
                f"{best[row['kind']] / cell['samples_per_s']:,.0f}x (best kinonb)"
            lines.append(f"| {row['kind']} | {row['workers']} | {name} | {cell['samples_per_s']:,.0f} | "
                         f"{cell['first_batch_s']:.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 episodes, 512 samples a Rerun row")
    ap.add_argument("--episodes", type=int, default=None, help="the first N episodes (default all 206)")
    ap.add_argument("--samples", type=int, default=2048, help="samples a Rerun low-dim row reads")
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    episodes, samples = (20, 512) if args.quick else (args.episodes, args.samples)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-rerun-", dir=os.environ.get("KINONB_BENCH_TMP")) as tmp:
        r = run(episodes, samples, Path(tmp))
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    sys.exit(main())
