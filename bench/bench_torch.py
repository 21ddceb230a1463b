"""The torch layer in a training loop: behaviour cloning from states to a 16-step action chunk, read from the file.

    python -m bench.bench_torch [--quick] [--json PATH|-]

A synthetic dataset (default 2,000 episodes x 200 frames, 7-d actions, 32-d states) is written to a temporary
.knb file. An MLP maps two frames of states (window ``range(-1, 1)``) to 16 frames of actions (``range(16)``),
batch 256, Adam, a fixed number of steps and a fixed seed. Each loader feeds the same samples in the same order
(the iterable dataset's ``(seed, epoch 0)`` permutation), so every loss curve must be identical; the bench
asserts it. Loaders, all with ``num_workers=0`` so the data time is paid inside the timed loop:

- ``kinonb map``: ``KinoMapDataset`` + ``DataLoader(batch_size=256, sampler=order)``; the batch sampler hands
  ``__getitems__`` 256 ids and one compiled call per key assembles the batch from the file.
- ``kinonb iter``: ``KinoIterDataset(batch_size=256)`` + ``DataLoader(batch_size=None)``: the batch is assembled
  inside the dataset (in a worker when there are workers).
- ``in-RAM tensor``: every window precomputed into two tensors before timing; a step indexes them. The floor.
- ``kinodb-style``: one episode read per sample (``db.read_episode``) and the window cut in Python, collated by
  ``default_collate``, the pattern kinodb's docs show for windowed training.

Per loader: median over ``--runs`` (>= 5) runs of the whole loop's time, its data time (waiting for the next
batch) and compute time (forward, backward, step), the data share of a step, and the ratio to the in-RAM
loader. The first run of each loader is a warm-up (Numba compilation or cache load, page cache, allocator)
and is reported apart. Runs are interleaved round-robin so a noisy machine slows all loaders alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OBS = range(-1, 1)
CHUNK = range(16)
A_DIM, S_DIM = 7, 32


def write_dataset(path: Path, episodes: int, frames: int, seed: int) -> None:
    import kinonb

    rng = np.random.default_rng(seed)
    with kinonb.create(path, sync=False) as w:
        for e in range(episodes):
            actions = np.cumsum(rng.standard_normal((frames, A_DIM)), axis=0).astype(np.float32) * 0.1
            states = np.cumsum(rng.standard_normal((frames, S_DIM)), axis=0).astype(np.float32) * 0.1
            w.add_episode(actions=actions, states=states, task=f"task {e % 8}", embodiment="synthetic", fps=10.0)


# -- loaders: each returns an iterator of (states (B, 2, S), actions (B, 16, A)) float32 tensors ---------------
def kinonb_map(path, order, batch):
    from torch.utils.data import DataLoader

    from kinonb.torch import KinoMapDataset

    ds = KinoMapDataset(path, windows={"states": OBS, "actions": CHUNK}, actions_only=True)
    loader = DataLoader(ds, batch_size=batch, sampler=order.tolist(), num_workers=0)
    return ((b["states"], b["actions"]) for b in loader)


def kinonb_iter(path, order, batch, seed):
    from torch.utils.data import DataLoader

    from kinonb.torch import KinoIterDataset

    ds = KinoIterDataset(path, windows={"states": OBS, "actions": CHUNK}, actions_only=True, shuffle=True,
                         seed=seed, batch_size=batch)
    return ((b["states"], b["actions"]) for b in DataLoader(ds, batch_size=None, num_workers=0))


def in_ram(tensors, order, batch):
    import torch

    states, actions = tensors
    idx = torch.from_numpy(order)
    return ((states[i], actions[i]) for i in idx.split(batch))


class KinodbStyle:
    """kinodb's documented pattern: a lazily opened handle, one whole episode per sample, the window cut in Python."""

    def __init__(self, path, sample_episodes, sample_frames):
        self.path, self.ep, self.t = path, sample_episodes, sample_frames
        self.db = None

    def __len__(self):
        return len(self.ep)

    def __getitem__(self, i):
        import torch

        import kinonb

        if self.db is None:
            self.db = kinonb.open(self.path)
        ep = self.db.read_episode(int(self.ep[i]))
        t, last = int(self.t[i]), len(ep["actions"]) - 1
        s = np.clip(np.arange(t + OBS.start, t + OBS.stop), 0, last)
        a = np.clip(np.arange(t + CHUNK.start, t + CHUNK.stop), 0, last)
        return torch.from_numpy(ep["states"][s]), torch.from_numpy(ep["actions"][a])


def kinodb_style(path, index, order, batch):
    from torch.utils.data import DataLoader

    ds = KinodbStyle(path, index.sample_episodes, index.sample_frames)
    return iter(DataLoader(ds, batch_size=batch, sampler=order.tolist(), num_workers=0))


def first_read_seconds(path: Path, cache_dir: Path) -> float:
    """Seconds of the first batch read in a fresh process: Numba compiles (empty cache) or loads its cache."""
    code = ("import time, numpy as np, kinonb\n"
            f"index = kinonb.open({str(path)!r}).sample_index({{'states': range(-1, 1), 'actions': range(16)}})\n"
            "t = time.perf_counter(); index.read(np.arange(256)); print(time.perf_counter() - t)\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# -- the loop --------------------------------------------------------------------------------------------------
def train(batches, steps: int, seed: int):
    """Run ``steps`` steps; return (data seconds, compute seconds, losses)."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(len(OBS) * S_DIM, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, len(CHUNK) * A_DIM),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = np.empty(steps)
    data = compute = 0.0
    for step in range(steps):
        t0 = time.perf_counter()
        states, actions = next(batches)
        t1 = time.perf_counter()
        pred = model(states.reshape(len(states), -1).contiguous())
        loss = torch.nn.functional.mse_loss(pred, actions.reshape(len(actions), -1).contiguous())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.item()
        t2 = time.perf_counter()
        data += t1 - t0
        compute += t2 - t1
    return data, compute, losses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small dataset, few steps (~30 s)")
    ap.add_argument("--episodes", type=int)
    ap.add_argument("--frames", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON (- for stdout)")
    args = ap.parse_args(argv)
    episodes = args.episodes or (400 if args.quick else 2000)
    frames = args.frames or (100 if args.quick else 200)
    steps = args.steps or (60 if args.quick else 500)
    runs = max(5, args.runs)
    batch = args.batch

    import torch

    import kinonb
    from kinonb.torch import sharding

    with tempfile.TemporaryDirectory(prefix="kinonb-bench-torch-") as tmp:
        path = Path(tmp) / "bc.knb"
        t = time.perf_counter()
        write_dataset(path, episodes, frames, args.seed)
        write_s = time.perf_counter() - t
        compile_s = first_read_seconds(path, Path(tmp) / "numba-cache")  # empty cache: compiles
        cache_s = first_read_seconds(path, Path(tmp) / "numba-cache")  # the same cache: loads it
        index = kinonb.open(path).sample_index({"states": OBS, "actions": CHUNK})
        n = len(index)
        if steps * batch > n:
            raise SystemExit(f"{steps} steps x {batch} > {n} samples: use fewer steps or more episodes")
        order = sharding.permutation(n, args.seed, 0)[: steps * batch]
        # The in-RAM floor: every window materialised before timing (the pattern that hides the data source).
        t = time.perf_counter()
        everything = index.read(np.arange(n))
        tensors = (torch.from_numpy(everything["states"]), torch.from_numpy(everything["actions"]))
        ram_s = time.perf_counter() - t

        loaders = {
            "kinonb map (__getitems__)": lambda: kinonb_map(path, order, batch),
            "kinonb iter (batch_size=256)": lambda: kinonb_iter(path, order, batch, args.seed),
            "in-RAM tensor": lambda: in_ram(tensors, order, batch),
            "kinodb-style (episode/sample)": lambda: kinodb_style(path, index, order, batch),
        }
        # Same samples, same order: check the first batch of every loader against the in-RAM one.
        want = next(in_ram(tensors, order, batch))
        for name, make in loaders.items():
            got = next(make())
            assert all(torch.equal(g, w) for g, w in zip(got, want)), f"{name}: first batch differs"

        warmup, results, curves = {}, {k: [] for k in loaders}, {}
        for name, make in loaders.items():
            t = time.perf_counter()
            train(make(), steps, args.seed)
            warmup[name] = time.perf_counter() - t
        for _ in range(runs):
            for name, make in loaders.items():
                data, compute, losses = train(make(), steps, args.seed)
                results[name].append((data, compute))
                if name in curves:
                    assert np.array_equal(curves[name], losses), f"{name}: loss curve changed between runs"
                curves[name] = losses
        reference = curves["in-RAM tensor"]
        for name, losses in curves.items():
            assert np.array_equal(losses, reference), f"{name}: loss curve differs from the in-RAM loader's"

    rows = {}
    for name, times in results.items():
        data = float(np.median([d for d, _ in times]))
        compute = float(np.median([c for _, c in times]))
        total = float(np.median([d + c for d, c in times]))
        rows[name] = {"total_s": total, "data_s": data, "compute_s": compute, "data_share": data / total,
                      "step_ms": 1e3 * total / steps, "data_ms_per_step": 1e3 * data / steps,
                      "warmup_s": warmup[name]}
    floor = rows["in-RAM tensor"]["total_s"]
    for r in rows.values():
        r["vs_in_ram"] = r["total_s"] / floor

    print(f"\nbench_torch: {episodes} episodes x {frames} frames ({n} samples), actions {A_DIM}-d, states {S_DIM}-d; "
          f"MLP {len(OBS) * S_DIM}-512-512-{len(CHUNK) * A_DIM}, batch {batch}, {steps} steps, median of {runs} runs "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus)")
    print(f"  written in {write_s:.1f} s; in-RAM windows materialised in {ram_s:.2f} s (not timed)")
    print(f"  JIT (not timed): first batch read in a fresh process {compile_s:.2f} s with an empty Numba cache "
          f"(compile), {cache_s:.3f} s with the cache (load); warm-up s below = each loader's first, untimed run")
    header = ["loader", "total s", "data s", "compute s", "data %", "ms/step", "data ms/step", "x in-RAM", "warm-up s"]
    table = [[k, f"{r['total_s']:.3f}", f"{r['data_s']:.3f}", f"{r['compute_s']:.3f}", f"{100 * r['data_share']:.1f}",
              f"{r['step_ms']:.2f}", f"{r['data_ms_per_step']:.3f}", f"{r['vs_in_ram']:.2f}", f"{r['warmup_s']:.2f}"]
             for k, r in rows.items()]
    widths = [max(len(str(x[i])) for x in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        cells = (str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(line, widths)))
        print("  " + "  ".join(cells))
    print("  loss curves: identical across all loaders (asserted)")
    share = max(rows[k]["data_share"] for k in rows if k.startswith("kinonb"))
    print(f"  target: kinonb data time < 10% of step time: {'met' if share < 0.10 else 'NOT met'} "
          f"(worst {100 * share:.1f}%)")
    if args.json:
        doc = {"episodes": episodes, "frames": frames, "samples": n, "steps": steps, "batch": batch, "runs": runs,
               "seed": args.seed, "threads": torch.get_num_threads(), "loaders": rows,
               "jit_compile_s": compile_s, "jit_cache_load_s": cache_s,
               "final_loss": float(reference[-1])}
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
