"""The one timing helper of the component benches: warm up once, then the median (and min, max) of several runs."""

from __future__ import annotations

import contextlib
import multiprocessing
import statistics
import time


def timed(fn, runs: int) -> dict:
    fn()  # warm-up: JIT compilation and first page faults stay out of the figure
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples), "runs": runs}


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x += 1


@contextlib.contextmanager
def competing_load(busy: bool = True):
    """A busy machine for the duration of the block: one busy-looping process per core minus one (at least
    one), started before and stopped after; nothing when ``busy`` is false."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    load = [ctx.Process(target=_spin, args=(stop,), daemon=True)
            for _ in range(max(1, multiprocessing.cpu_count() - 1))] if busy else []
    for p in load:
        p.start()
    try:
        yield len(load)
    finally:
        stop.set()
        for p in load:
            p.join(5)
