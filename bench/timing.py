"""The one timing helper of the component benches: warm up once, then the median (and min, max) of several runs."""

from __future__ import annotations

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
