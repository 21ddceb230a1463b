"""End-to-end figures: loader throughput (warm and cold page cache) and the actions-only behaviour-cloning loop.

Throughput: every loader reads the same sequence of batches of one seeded permutation of sample ids, from its
start. Per loader: one warm-up batch first (its time, which holds any JIT compile or cache load, is reported
apart as ``first_batch_s``; its values are checked against the first loader's), one probe batch, then
``runs`` timed runs of consecutive batches (see :func:`throughput` for how many); the figure is the median
samples/s with min and max.

- warm: every file of the loader is read once beforehand, so the page cache holds it; the loader stays open.
- cold: before each run the loader is closed (no handle or map left), each of its files is evicted with
  ``posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)``, what is still resident is measured with ``mincore`` and
  reported, then the loader is reopened (``open_s``, untimed) and the run is timed.

The in-RAM ceilings have no cold regime (their data is in RAM by construction).

The BC loop: an MLP from the 2-step state history to the 16-step action chunk, batch 256, Adam, fixed steps,
torch's DataLoader over the loader (``__getitems__`` reads a whole batch), the same seed for every loader.
Each step's data time (waiting for the batch, converting it, copying it into the model's input buffer) and
compute time (forward, backward, step) are summed. Every loader must produce the identical loss curve, bit
for bit; :class:`LossCurveMismatch` is raised otherwise.
"""

from __future__ import annotations

import ctypes
import gc
import os
import statistics
import time

import numpy as np

from .loaders import IN_RAM


class LossCurveMismatch(AssertionError):
    """Two loaders fed the BC loop different data: their loss curves differ."""


# -- page cache ------------------------------------------------------------------------------------------------
def evict(files) -> None:
    """Drop each file's pages from the page cache (clean pages only; the sources were synced after writing)."""
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(files) -> None:
    """Read each file once so the page cache holds it."""
    for p in files:
        with open(p, "rb", buffering=0) as f:
            while f.read(1 << 24):
                pass


_libc = None


def _mincore_fns():
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
        _libc = libc
    return _libc


def resident_fraction(files, max_files: int = 256) -> float | None:
    """Fraction of the files' pages in the page cache (mincore), over up to ``max_files`` evenly spread files
    weighted by size; None where mincore is unavailable."""
    files = list(files)
    if not files:
        return 0.0
    if len(files) > max_files:
        files = [files[int(k)] for k in np.linspace(0, len(files) - 1, max_files)]
    try:
        libc = _mincore_fns()
    except (OSError, AttributeError):
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    resident = total = 0
    for p in files:
        size = os.path.getsize(p)
        if size == 0:
            continue
        fd = os.open(p, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
            if addr in (None, ctypes.c_void_p(-1).value):
                return None
            n = (size + page - 1) // page
            vec = (ctypes.c_ubyte * n)()
            if libc.mincore(addr, size, vec) != 0:
                libc.munmap(addr, size)
                return None
            resident += int(np.frombuffer(vec, np.uint8).__and__(1).sum())
            total += n
            libc.munmap(addr, size)
        finally:
            os.close(fd)
    return resident / total if total else 0.0


# -- throughput ------------------------------------------------------------------------------------------------
def _stats(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def batches_of(order: np.ndarray, batch: int, count: int) -> list[np.ndarray]:
    """The first ``count`` batches of the sample sequence (the permutation, repeated if the dataset is tiny)."""
    ids = np.resize(order, batch * count)
    return [ids[k * batch:(k + 1) * batch] for k in range(count)]


def _timed_run(loader, batches) -> float:
    t0 = time.perf_counter()
    for ids in batches:
        loader.read(ids)
    return time.perf_counter() - t0


def throughput(loaders: dict, order, *, batch: int, runs: int, batches_per_run: int, cold: bool = True,
               run_target_s: float = 0.25, max_batches_per_run: int = 64, log=print) -> dict:
    """samples/s per loader and regime; ratios to kinonb and to the in-RAM ceiling.

    Every loader reads the same sequence of batches from its start: batch 0 is the warm-up (compared with the
    first loader's, value for value), batch 1 a probe of the loader's speed, then the timed runs. A warm run
    holds ``batches_per_run`` batches, or more for a loader fast enough to read more in ``run_target_s`` (up
    to ``max_batches_per_run``, and never past the end of the dataset), so that a run of a fast loader is not
    a few microseconds of timer noise; a cold run holds ``batches_per_run`` batches for every loader.
    """
    fit = max(batches_per_run, (len(order) // batch - 2) // runs)
    limit = max(batches_per_run, min(max_batches_per_run, fit))
    seq = batches_of(order, batch, 2 + runs * limit)
    out, ref_name, ref = {}, None, None
    for name, loader in loaders.items():
        res = {"pattern": loader.pattern}
        files = loader.files
        warm(files)
        t0 = time.perf_counter()
        loader.ensure_open()
        res["open_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = loader.read(seq[0])
        res["first_batch_s"] = time.perf_counter() - t0
        if ref is None:
            ref_name, ref = name, first
        else:
            check_same(first, ref, name, ref_name)
        t0 = time.perf_counter()
        loader.read(seq[1])
        probe = time.perf_counter() - t0
        nb = int(min(limit, max(batches_per_run, run_target_s // max(probe, 1e-9))))
        per_run = [seq[2 + r * nb:2 + (r + 1) * nb] for r in range(runs)]
        secs = [_timed_run(loader, batches) for batches in per_run]
        res["warm"] = _stats([nb * batch / s for s in secs])
        res["warm"]["seconds"] = secs
        res["warm"]["samples_per_run"] = nb * batch
        if cold and name not in IN_RAM:
            secs, opens, resident = [], [], []
            for r in range(runs):
                loader.close()
                gc.collect()
                evict(files)
                resident.append(resident_fraction(files))
                t0 = time.perf_counter()
                loader.ensure_open()
                opens.append(time.perf_counter() - t0)
                secs.append(_timed_run(loader, seq[2 + r * batches_per_run:2 + (r + 1) * batches_per_run]))
            res["cold"] = _stats([batches_per_run * batch / s for s in secs])
            res["cold"]["seconds"] = secs
            res["cold"]["samples_per_run"] = batches_per_run * batch
            res["cold"]["open_s"] = statistics.median(opens)
            known = [r for r in resident if r is not None]
            res["cold"]["resident_before_run"] = max(known) if known else None
        loader.close()
        gc.collect()
        out[name] = res
        cold_txt = f"cold {res['cold']['median']:>11,.0f}" if "cold" in res else "cold         n/a"
        log(f"    {name:<26} warm {res['warm']['median']:>11,.0f} samples/s  {cold_txt}   "
            f"(first batch {res['first_batch_s'] * 1e3:,.0f} ms)")
    add_ratios(out)
    return {"samples_per_run": batch * batches_per_run, "max_samples_per_run": batch * limit, "runs": runs,
            "batch": batch, "loaders": out}


class DifferentSamples(AssertionError):
    """A loader returned other values than the reference loader for the same sample ids."""


def check_same(batch: dict, ref: dict, name: str, ref_name: str) -> None:
    """Every key of ``batch`` equals ``ref``'s: same keys, shapes, dtypes and bytes."""
    if set(batch) != set(ref):
        raise DifferentSamples(f"{name} returned keys {sorted(batch)}, {ref_name} {sorted(ref)}")
    for k, v in ref.items():
        got = np.asarray(batch[k])
        if got.shape != v.shape or got.dtype != v.dtype or not np.array_equal(got, v):
            raise DifferentSamples(f"{name}[{k!r}] differs from {ref_name}'s for the same ids: {got.dtype} "
                                   f"{got.shape} vs {v.dtype} {v.shape}")


def add_ratios(out: dict) -> None:
    """``kinonb_x``: kinonb's samples/s over this loader's (> 1: kinonb is faster); ``of_ceiling``: this
    loader's samples/s over the faster in-RAM ceiling's (warm)."""
    ceiling = max((out[k]["warm"]["median"] for k in IN_RAM if k in out), default=None)
    for regime in ("warm", "cold"):
        ref = out.get("kinonb", {}).get(regime, {}).get("median")
        for res in out.values():
            r = res.get(regime)
            if r is None:
                continue
            r["kinonb_x"] = ref / r["median"] if ref else None
            r["of_ceiling"] = r["median"] / ceiling if ceiling else None


# -- the behaviour-cloning loop ------------------------------------------------------------------------------------
def _mlp(in_dim: int, out_dim: int, hidden: int):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class _Batches:
    """A map-style Dataset over a loader: ``__getitems__`` reads a whole batch (numpy dict)."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __getitems__(self, ids):
        return self.loader.read(np.asarray(ids, np.int64))


def _first(batch):
    return batch


def normalizer(loader, order, batch: int = 4096) -> dict:
    """Mean and std of states and actions over a sample of the dataset (the same constants for every loader)."""
    b = loader.read(np.sort(order[:batch]))
    out = {}
    for k in ("states", "actions"):
        v = b[k].reshape(-1, b[k].shape[-1]).astype(np.float64)
        out[k] = (v.mean(0).astype(np.float32), (v.std(0) + 1e-3).astype(np.float32))
    return out


def bc_loop(loader, order, *, steps: int, batch: int, seed: int, norm: dict, hidden: int = 256,
            device: str = "cpu", workers: int = 0) -> dict:
    import torch
    from torch.utils.data import DataLoader

    ids = np.resize(order, steps * batch).tolist()
    if hasattr(loader, "dataset"):  # kinonb.torch: its own Dataset, default collate
        ds, collate_fn = loader.dataset(), None
    else:
        ds, collate_fn = _Batches(loader), _first
    ds.__getitems__(ids[:batch])  # warm-up outside the loop: JIT, opening the file in this process
    dl = DataLoader(ds, batch_size=batch, sampler=ids, num_workers=workers, collate_fn=collate_fn,
                    drop_last=True, persistent_workers=False, pin_memory=device != "cpu")
    dev = torch.device(device)
    s_mean, s_std = (torch.from_numpy(x).to(dev) for x in norm["states"])
    a_mean, a_std = (torch.from_numpy(x).to(dev) for x in norm["actions"])
    torch.manual_seed(seed)
    s_dim, a_dim = len(norm["states"][0]), len(norm["actions"][0])
    model = _mlp(2 * s_dim, 16 * a_dim, hidden).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_buf = torch.empty((batch, 2, s_dim), dtype=torch.float32, device=dev)
    y_buf = torch.empty((batch, 16, a_dim), dtype=torch.float32, device=dev)
    losses, data_s, compute_s = [], 0.0, 0.0
    t_start = time.perf_counter()
    it = iter(dl)
    for _ in range(steps):
        t0 = time.perf_counter()
        b = next(it)
        x_buf.copy_(torch.as_tensor(b["states"]), non_blocking=True)
        y_buf.copy_(torch.as_tensor(b["actions"]), non_blocking=True)
        t1 = time.perf_counter()
        x = ((x_buf - s_mean) / s_std).reshape(batch, -1)
        y = ((y_buf - a_mean) / a_std).reshape(batch, -1)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())  # synchronises on a GPU: the step's compute ends here
        t2 = time.perf_counter()
        data_s += t1 - t0
        compute_s += t2 - t1
    total = time.perf_counter() - t_start
    del it, dl
    loader.close()
    return {"steps": steps, "batch": batch, "total_s": total, "data_s": data_s, "compute_s": compute_s,
            "data_share": data_s / (data_s + compute_s), "samples_per_s": steps * batch / total,
            "device": device, "workers": workers, "losses": losses}


def bc_all(loaders: dict, order, *, steps: int, batch: int, seed: int, device: str = "cpu", workers: int = 0,
           check: bool = True, log=print) -> dict:
    """The BC loop per loader; the loss curves must match the first loader's exactly."""
    norm = normalizer(loaders["in-RAM numpy"] if "in-RAM numpy" in loaders else next(iter(loaders.values())),
                      order)
    out, ref_name, ref = {}, None, None
    for name, loader in loaders.items():
        r = bc_loop(loader, order, steps=steps, batch=batch, seed=seed, norm=norm, device=device,
                    workers=workers)
        out[name] = r
        log(f"    {name:<26} total {r['total_s']:7.2f} s  data {r['data_s']:7.2f} s  compute {r['compute_s']:6.2f} s"
            f"  data share {r['data_share'] * 100:5.1f}%  final loss {r['losses'][-1]:.5f}")
        if ref is None:
            ref_name, ref = name, r["losses"]
        elif r["losses"] != ref:
            diff = max(abs(a - b) for a, b in zip(r["losses"], ref))
            step = next(k for k, (a, b) in enumerate(zip(r["losses"], ref)) if a != b)
            if check:
                raise LossCurveMismatch(f"BC loss curve of {name!r} differs from {ref_name!r}'s from step {step} "
                                        f"(max |diff| {diff:.3g}): the loaders did not feed the same data")
            r["differs_from"] = {"loader": ref_name, "first_step": step, "max_abs_diff": diff}
    ref_total = out.get("kinonb", {}).get("total_s")
    for r in out.values():
        r["kinonb_x"] = r["total_s"] / ref_total if ref_total else None
    identical = all(r["losses"] == ref for r in out.values())
    return {"steps": steps, "batch": batch, "seed": seed, "device": device, "workers": workers,
            "loss_curves_identical": identical, "reference": ref_name, "loaders": out}


def sync_files() -> None:
    """Write back dirty pages so that eviction drops every page (DONTNEED skips dirty ones)."""
    os.sync()


# -- JIT compile time -----------------------------------------------------------------------------------------------
_JIT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, kinonb
t_import = time.perf_counter() - t0
db = kinonb.open(sys.argv[1])
windows = {"states": range(-1, 1), "actions": range(16)}
cams = db.camera_names()
if cams:
    windows[cams[0]] = [-1, 0]
t0 = time.perf_counter()
index = db.sample_index(windows, pad="edge")
t_index = time.perf_counter() - t0
ids = np.arange(min(len(index), 256))
t0 = time.perf_counter(); index.read(ids); first = time.perf_counter() - t0
t0 = time.perf_counter(); index.read(ids); second = time.perf_counter() - t0
print(json.dumps({"import_s": t_import, "first_sample_index_s": t_index, "first_batch_s": first,
                  "second_batch_s": second}))
"""


def jit_compile_time(path) -> dict:
    """kinonb's first batch in a fresh process with an empty Numba cache (what a first-ever run pays), and
    with the on-disk cache that run leaves behind (what every later run pays)."""
    import json
    import subprocess
    import sys
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("no cache (compiles)", "cached"):
            p = subprocess.run([sys.executable, "-c", _JIT_SCRIPT, str(path)], env=env, capture_output=True,
                               text=True, timeout=600)
            if p.returncode != 0:
                return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"rc {p.returncode}"}
            out[label] = json.loads(p.stdout.strip().splitlines()[-1])
    return out
