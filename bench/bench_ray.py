"""Ray Data window samples (issue 17): ``kinonb.ray.read_knb`` against ``ray.data.read_parquet`` of the same rows.

    python -m bench.bench_ray [--quick] [--episodes N] [--runs R] [--cpus C] [--out PATH] [--json PATH|-]

Each row drains a dataset of window samples (actions ``t .. t+15`` and the state at ``t``; in the camera row also
a 64x64 camera frame at ``t``, lz4 or JPEG in the .knb file) through ``iter_batches(batch_size=256)`` on
``ray.init(num_cpus=C)`` (default 2), and reports rows/s per CPU (median of R runs, each a new dataset: planning
on the driver included). The Parquet peer reads the window samples themselves (the same rows, written once by
Ray's ``write_parquet`` from a kinonb read, snappy), so it builds no window: the most favourable layout for it.
Numba JIT stays out of the figures: one untimed pass of each dataset first (every worker compiles, or loads its
on-disk cache), and the driver's first-read compile time is reported apart. The ``ray.data.read_lerobot`` peer
reads the same episodes exported as LeRobot v3 (``kinonb export --format lerobot``: the lz4 camera as PNG
images in the parquet) with ``delta_timestamps`` for the same windows, in another interpreter where ``lerobot``
imports (``$KINONB_RAY_LEROBOT_PYTHON``, default /work/venv312/bin/python: bench/ray_lerobot_peer.py, its own
``ray.init(num_cpus=C)`` once kinonb's Ray has stopped); "not run" where there is none (``lerobot_python``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench_remote import windows, write
from .report import print_and_save

BATCH = 256


def start_ray(cpus: int) -> bool:
    """Start a local Ray (127.0.0.1 only) unless one runs; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True


def drain(make) -> tuple[int, float, int]:
    """Rows, seconds and a checksum of the episode column for one pass over the dataset ``make()`` builds."""
    t0 = time.perf_counter()
    rows = check = 0
    for b in make().iter_batches(batch_size=BATCH, batch_format="numpy"):
        rows += len(b["episode"])
        check += int(b["episode"].sum()) + int(b["frame"].sum())
    return rows, time.perf_counter() - t0, check


def rate(make, runs: int, cpus: int) -> tuple[float, int, int, float]:
    """Median rows/s per CPU over ``runs`` timed passes after one untimed one; rows, checksum, untimed seconds."""
    rows, first_s, check = drain(make)
    times = []
    for _ in range(runs):
        n, s, c = drain(make)
        assert (n, c) == (rows, check), "a pass read other rows"
        times.append(s)
    return rows / statistics.median(times) / cpus, rows, check, first_s


def jit_seconds(path: Path, wins: dict) -> float:
    """The driver's first read of a batch minus its second: Numba compiling (or loading its cache)."""
    import kinonb

    index = kinonb.open(path).sample_index(wins)
    ids = np.arange(min(BATCH, len(index)), dtype=np.int64)
    t0 = time.perf_counter()
    index.read(ids)
    t1 = time.perf_counter()
    index.read(ids)
    return max(0.0, (t1 - t0) - (time.perf_counter() - t1))


def case(path: Path, camera: str | None, runs: int, cpus: int, tmp: Path) -> dict:
    import ray

    from kinonb.ray import read_knb

    wins = windows(camera is not None)
    jit = jit_seconds(path, wins)
    knb, rows, check, knb_first = rate(lambda: read_knb(path, windows=wins), runs, cpus)
    pq = tmp / f"windows-{camera or 'none'}"
    read_knb(path, windows=wins).write_parquet(str(pq))
    peer, peer_rows, peer_check, _ = rate(lambda: ray.data.read_parquet(str(pq)), runs, cpus)
    assert (peer_rows, peer_check) == (rows, check), "the Parquet copy holds other rows"
    return {"camera": camera or "none", "rows": rows, "check": check, "knb_mb": path.stat().st_size / 1e6,
            "parquet_mb": sum(f.stat().st_size for f in pq.rglob("*.parquet")) / 1e6, "knb": knb, "parquet": peer,
            "jit_s": jit, "knb_first_pass_s": knb_first}


#: The interpreter of the read_lerobot peer: where ``lerobot`` (>= 0.5, Python >= 3.12) imports, not kinonb's.
LEROBOT_PYTHON = "KINONB_RAY_LEROBOT_PYTHON"
LEROBOT_DEFAULT = "/work/venv312/bin/python"
#: kinonb window keys as ``kinonb export --format lerobot`` names the features (cameras keep their names).
LEROBOT_NAMES = {"actions": "action", "states": "observation.state"}


def lerobot_python() -> tuple[str | None, str]:
    """The peer's interpreter (``$KINONB_RAY_LEROBOT_PYTHON``, else LEROBOT_DEFAULT where it exists) once it
    imports ``ray.data`` and ``lerobot.datasets.dataset_metadata``; else None and why not."""
    python = os.environ.get(LEROBOT_PYTHON) or (LEROBOT_DEFAULT if Path(LEROBOT_DEFAULT).exists() else None)
    if not python:
        return None, (f"not run: read_lerobot needs the `lerobot` package (>= 0.5, Python >= 3.12), not installed "
                      f"beside kinonb (it would replace torch, numpy and rerun-sdk); set {LEROBOT_PYTHON} to a "
                      f"Python with ray[data] and lerobot")
    probe = "import ray.data, lerobot.datasets.dataset_metadata, lerobot.datasets.video_utils"
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300, env=peer_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"not run: {python}: {e}"
    if done.returncode:
        return None, f"not run: {python} -c '{probe}' failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return python, "ran"


def peer_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS", "VIRTUAL_ENV")}
    return env | {"HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"}


def window_sums(path: Path, wins: dict) -> dict:
    """Each window key's value sum and pad count over every sample, under its LeRobot name (the peer's ``values``)."""
    import kinonb

    index = kinonb.open(path).sample_index(wins)
    out: dict = {}
    for lo in range(0, len(index), 8192):
        batch = index.read(np.arange(lo, min(lo + 8192, len(index)), dtype=np.int64))
        for key in wins:
            v, name = batch[key], LEROBOT_NAMES.get(key, key)
            out[name] = out.get(name, 0) + (float(v.astype(np.float64).sum()) if v.dtype.kind == "f" else
                                            int(v.astype(np.int64).sum()))
            out[f"{name}_is_pad"] = out.get(f"{name}_is_pad", 0) + int(batch[f"{key}_is_pad"].sum())
    return out


def lerobot_case(python: str, x: dict, path: Path, camera: str | None, runs: int, cpus: int, tmp: Path) -> dict:
    """``x``'s file exported as LeRobot v3 and drained by ``ray.data.read_lerobot`` in ``python``
    (bench/ray_lerobot_peer.py); the same samples as ``x``, asserted (rows, checksum, value sums)."""
    from kinonb.ops.export_lerobot import export_lerobot

    root = tmp / f"lerobot-{camera or 'none'}"
    export_lerobot(path, root)
    wins = windows(camera is not None)
    spec = json.dumps({LEROBOT_NAMES.get(k, k): list(v) for k, v in wins.items()})
    cmd = [python, str(Path(__file__).with_name("ray_lerobot_peer.py")), "--root", str(root), "--windows", spec,
           "--runs", str(runs), "--cpus", str(cpus), "--batch", str(BATCH), "--config", "file",
           "--config", f"episode:{2 * cpus}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=peer_env())
    if done.returncode:
        raise RuntimeError(f"the read_lerobot peer failed ({done.returncode}): {done.stderr[-2000:]}")
    peer = json.loads(done.stdout.strip().splitlines()[-1])
    assert (peer["rows"], peer["check"]) == (x["rows"], x["check"]), f"read_lerobot read other rows: {peer['rows']}"
    want = window_sums(path, wins)
    for k, v in want.items():
        assert math.isclose(peer["values"][k], v, rel_tol=1e-9, abs_tol=1e-6), f"{k}: {peer['values'][k]} != {v}"
    return {"lerobot": peer["rows_per_s_per_cpu"], "lerobot_config": peer["best"],
            "lerobot_mb": sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6,
            "lerobot_configs": {c: r["rows_per_s_per_cpu"] for c, r in peer["configs"].items()},
            "lerobot_first_pass_s": peer["configs"][peer["best"]]["first_pass_s"],
            "lerobot_shapes": peer["values"]["shapes"], "lerobot_versions": peer["versions"]}


def run(episodes: int, runs: int, tmp: Path, *, cpus: int = 2, cameras=(None, "lz4")) -> dict:
    import ray

    files = {}
    for camera in cameras:
        files[camera] = tmp / f"d-{camera}.knb"
        write(files[camera], episodes, camera)
    started = start_ray(cpus)
    try:
        cpus = int(ray.cluster_resources().get("CPU", cpus))
        rows = [case(path, camera, runs, cpus, tmp) for camera, path in files.items()]
    finally:
        if started:
            ray.shutdown()
    python, status = lerobot_python()  # its own Ray, once kinonb's has stopped (where this call started it)
    for x, (camera, path) in zip(rows, files.items()):
        x.update(lerobot_case(python, x, path, camera, runs, cpus, tmp) if python else {"lerobot": None})
    return {"episodes": episodes, "runs": runs, "cpus": cpus, "batch": BATCH, "rows": rows, "lerobot": status,
            "lerobot_versions": next((x["lerobot_versions"] for x in rows if x["lerobot"]), None)}


#: The table's columns: header, cell format over a row's figures and :func:`cells`.
TABLE = (("camera", "{camera}", "---"), ("rows", "{rows:,}", "---:"), (".knb MB", "{knb_mb:,.1f}", "---:"),
         ("Parquet MB", "{parquet_mb:,.1f}", "---:"), ("LeRobot MB", "{lerobot_mb_cell}", "---:"),
         ("read_knb rows/s/CPU", "{knb:,.0f}", "---:"),
         ("read_parquet rows/s/CPU (window rows)", "{parquet:,.0f}", "---:"),
         ("read_lerobot rows/s/CPU", "{lerobot_cell}", "---:"), ("read_knb / parquet", "{ratio:.2f}x", "---:"),
         ("read_knb / read_lerobot", "{lerobot_ratio}", "---:"),
         ("read_knb first pass", "{knb_first_pass_s:.2f} s", "---:"), ("driver JIT", "{jit_s:.2f} s", "---:"))


def cells(x: dict) -> dict:
    """The derived cells of a row: the ratios, and the read_lerobot ones ("not run" without the peer)."""
    ran = x.get("lerobot") is not None
    return {"ratio": x["knb"] / x["parquet"],
            "lerobot_cell": f"{x['lerobot']:,.0f} ({x['lerobot_config']})" if ran else "not run",
            "lerobot_ratio": f"{x['knb'] / x['lerobot']:.2f}x" if ran else "-",
            "lerobot_mb_cell": f"{x['lerobot_mb']:,.1f}" if ran else "-"}


def report(r: dict) -> str:
    title = (f"## Ray Data window samples: {r['episodes']} episodes, ray.init(num_cpus={r['cpus']}), "
             f"iter_batches({r['batch']}), median of {r['runs']} runs")
    table = ["| " + " | ".join(h for h, _, _ in TABLE) + " |", "|" + "|".join(a for _, _, a in TABLE) + "|"]
    table += ["| " + " | ".join(f.format(**x, **cells(x)) for _, f, _ in TABLE) + " |" for x in r["rows"]]
    lines = [title, "", *table, "", f"read_lerobot: {r['lerobot']}"]
    if r.get("lerobot_versions"):
        lines[-1] += " (" + ", ".join(f"{k} {v}" for k, v in r["lerobot_versions"].items() if v) + ")"
        lines += [f"read_lerobot {x['camera']}: rows/s/CPU per read setting "
                  + ", ".join(f"{c} {v:,.0f}" for c, v in x["lerobot_configs"].items())
                  + f"; first pass {x['lerobot_first_pass_s']:.2f} s" for x in r["rows"]]
    return "\n".join(lines)


def parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 episodes, 3 runs")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...) (default 2)")
    ap.add_argument("--camera", default="lz4", choices=("lz4", "jpeg"), help="codec of the camera row")
    ap.add_argument("--out", type=Path, help="also write the markdown table to this file")
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    if args.quick:
        args.episodes, args.runs = 20, 3
    return args


def main(argv=None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-ray-", dir=os.environ.get("KINONB_BENCH_TMP")) as tmp:
        r = run(args.episodes, args.runs, Path(tmp), cpus=args.cpus, cameras=(None, args.camera))
    text = report(r)
    print_and_save(text, r, args.json)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
