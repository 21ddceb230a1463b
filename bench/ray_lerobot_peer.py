"""bench_ray's ``ray.data.read_lerobot`` peer, run in an interpreter where ``lerobot`` imports (no kinonb import).

    python bench/ray_lerobot_peer.py --root DIR --windows '{"action": [0, ..., 15], "observation.state": [0]}'
        [--runs N] [--cpus C] [--batch B] [--config file] [--config episode:4]

``--windows`` maps LeRobot feature keys to frame offsets; they become ``delta_timestamps`` in seconds (offset /
the dataset's fps, from meta/info.json), so every row is the frame's window (actions ``t .. t+15`` clamped to
the episode, ``{key}_is_pad`` past its end) as bench_ray's kinonb rows. Each ``--config`` is a read setting:
``file`` (read_lerobot's default: one read task per data file), ``episode`` (one per episode) or
``episode:N`` (``override_num_blocks=N``). Per config: one untimed pass (workers start, imports), then ``--runs``
timed passes, each a new dataset drained through ``iter_batches(batch_size=B, batch_format="numpy")``. Prints one
JSON object: per config rows, the median seconds, rows/s per CPU and an ``(episode_index, frame_index)``
checksum; from the first untimed pass, each window key's value sum, pad count and batch shape (``values``: the
caller compares them with its own windows); the package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from importlib import metadata

PACKAGES = ("ray", "lerobot", "torch", "torchvision", "numpy", "pyarrow", "pandas", "datasets", "huggingface_hub",
            "pillow", "av")


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def dataset(root: str, delta: dict, config: str, episodes: int):
    """read_lerobot as ``config`` says (``episode:N``: at most one block per episode, as delta_timestamps needs)."""
    import ray

    granularity, _, blocks = config.partition(":")
    return ray.data.read_lerobot(root, delta_timestamps=delta, read_granularity=granularity,
                                 override_num_blocks=min(int(blocks), episodes) if blocks else None)


def stacked(column):
    """A batch column as one array: Ray hands variable-shaped tensor columns out as object arrays of rows."""
    import numpy as np

    return np.stack(list(column)) if column.dtype == object else column


def sums(b, keys, out: dict) -> None:
    """Add each window key's value sum and pad count (the untimed pass checks the windows' contents)."""
    for k in keys:
        v, pad = stacked(b[k]), stacked(b[f"{k}_is_pad"])
        out.setdefault("shapes", {}).setdefault(k, [list(v.shape), str(v.dtype)])
        total = float(v.astype("float64").sum()) if v.dtype.kind == "f" else int(v.astype("int64").sum())
        out[k] = out.get(k, 0) + total
        out[f"{k}_is_pad"] = out.get(f"{k}_is_pad", 0) + int(pad.sum())


def drain(make, batch: int, keys=(), out=None) -> tuple[int, float, int]:
    """Rows, seconds and the ``(episode_index, frame_index)`` checksum of one pass over ``make()``'s dataset;
    with ``out``, also each window key's :func:`sums` (not a timed pass)."""
    t0 = time.perf_counter()
    rows = check = 0
    for b in make().iter_batches(batch_size=batch, batch_format="numpy"):
        rows += len(b["episode_index"])
        check += int(b["episode_index"].sum()) + int(b["frame_index"].sum())
        if out is not None:
            sums(b, keys, out)
    return rows, time.perf_counter() - t0, check


def measure(make, runs: int, cpus: int, batch: int, keys, out: dict) -> dict:
    """One untimed pass (with :func:`sums` into ``out`` when it is empty), then ``runs`` timed ones."""
    rows, first_s, check = drain(make, batch, keys, None if out else out)
    times = []
    for _ in range(runs):
        n, s, c = drain(make, batch)
        if (n, c) != (rows, check):
            raise AssertionError(f"a pass read other rows: {(n, c)} != {(rows, check)}")
        times.append(s)
    seconds = statistics.median(times)
    return {"rows": rows, "check": check, "seconds": seconds, "rows_per_s_per_cpu": rows / seconds / cpus,
            "first_pass_s": first_s, "times": times}


def parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="a LeRobot v3 dataset folder")
    ap.add_argument("--windows", required=True, help='JSON {feature: [frame offsets]}')
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--config", action="append", help="file | episode | episode:N (repeatable; default file)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray

    with open(os.path.join(args.root, "meta", "info.json")) as f:
        info = json.load(f)
    fps, episodes = float(info["fps"]), int(info["total_episodes"])
    delta = {k: [o / fps for o in v] for k, v in json.loads(args.windows).items()}
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        cpus = int(ray.cluster_resources().get("CPU", args.cpus))
        values: dict = {}
        configs = {c: measure(lambda c=c: dataset(args.root, delta, c, episodes), args.runs, cpus, args.batch,
                              list(delta), values)
                   for c in args.config or ["file"]}
    finally:
        ray.shutdown()
    best = max(configs, key=lambda c: configs[c]["rows_per_s_per_cpu"])
    out = {"root": args.root, "fps": fps, "delta_timestamps": delta, "cpus": cpus, "batch": args.batch,
           "runs": args.runs, "configs": configs, "best": best, "values": values, "versions": versions()}
    out |= {k: configs[best][k] for k in ("rows", "check", "seconds", "rows_per_s_per_cpu")}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
