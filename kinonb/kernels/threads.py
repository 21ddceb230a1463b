"""Parallel batches without a native thread pool, so every process may fork at any time.

Every kinonb kernel is compiled serial with ``nogil=True``. A batch worth splitting is cut into contiguous
chunks that a small Python thread pool runs at once, each chunk one compiled call that releases the GIL.
Numba's ``parallel=True`` backends are not used: GNU OpenMP aborts a process forked after it started
("fork() called from a process already using GNU OpenMP"), which kills every fork DataLoader worker of a
parent that read one image batch, and its native threads abort spawn workers at interpreter exit. A few Python
threads have neither problem: a forked child never inherits them (it starts its own on first use), they exit
with the interpreter, and compilation needs no parallel pass (faster first batches).

Threads per process: ``KINONB_NUM_THREADS`` if set, else the CPUs this process may run on; inside a
DataLoader worker the torch layer sets 1 (as torch does for its own threads), so N workers use N cores.
"""

from __future__ import annotations

import os
import queue
import threading

_lock = threading.Lock()
_workers: list = []  # one job queue per worker thread of this process
_workers_pid: int | None = None
_threads: int | None = None
_here = threading.local()  # .limit: a per-thread cap (a loader thread splits nothing: its siblings use the cores)


def _default_threads() -> int:
    env = os.environ.get("KINONB_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """Threads a batch may be split over when read from the calling thread."""
    limit = getattr(_here, "limit", None)
    if limit is not None:
        return limit
    return _threads if _threads is not None else _default_threads()


def limit_this_thread(n: int | None) -> None:
    """Split batches read from the calling thread over at most ``n`` threads (None: the process setting).

    A loader running one batch per thread sets 1 in each of its threads, so N threads use N cores."""
    _here.limit = None if n is None else max(1, int(n))


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads per batch in this process (None: back to the default)."""
    global _threads
    _threads = None if n is None else max(1, int(n))


def _work(jobs: queue.SimpleQueue) -> None:
    while True:
        fn, args, reply, slot = jobs.get()
        try:
            reply.put((slot, True, fn(*args)))
        except BaseException as e:  # handed back to the caller, which re-raises it
            reply.put((slot, False, e))


def _job_queues(count: int) -> list:
    """``count`` worker threads' job queues, started on first use in this process (a forked child has none of
    its parent's threads: it starts its own). Daemon threads, idle on a queue, never delay interpreter exit."""
    global _workers, _workers_pid
    pid = os.getpid()
    if _workers_pid != pid or len(_workers) < count:
        with _lock:
            if _workers_pid != pid:
                _workers, _workers_pid = [], pid
            while len(_workers) < count:
                jobs = queue.SimpleQueue()
                threading.Thread(target=_work, args=(jobs,), name=f"kinonb-{len(_workers)}", daemon=True).start()
                _workers.append(jobs)
    return _workers[:count]


def run_split(fn, n: int, *args, parts: int | None = None):
    """``fn(*args, lo, hi)`` over ``[0, n)`` cut into ``parts`` (default: the thread count) contiguous ranges,
    the calling thread taking the first; returns the results in range order. A hand-off costs ~20 us, so
    callers split only batches that take far longer than that."""
    k = min(num_threads() if parts is None else parts, n)
    if k <= 1:
        return [fn(*args, 0, n)]
    bounds = [n * i // k for i in range(k + 1)]
    reply = queue.SimpleQueue()
    for i, jobs in enumerate(_job_queues(k - 1), start=1):
        jobs.put((fn, (*args, bounds[i], bounds[i + 1]), reply, i))
    results = [None] * k
    results[0] = fn(*args, bounds[0], bounds[1])
    failure = None
    for _ in range(k - 1):
        slot, ok, value = reply.get()
        results[slot] = value
        if not ok and failure is None:
            failure = value
    if failure is not None:
        raise failure
    return results


def split_over_threads(chunk, count_arg: int, combine=None):
    """The whole-batch function of a chunk kernel ``chunk(*args, lo, hi)``: it runs the chunks of
    ``[0, len(args[count_arg]))`` over threads and returns ``combine(results)`` (None without ``combine``).

    Its ``py_func`` does the same with the kernel's plain-Python body, so tests compare both in one process.
    """

    def over(fn):
        def run(*args):
            results = run_split(fn, len(args[count_arg]), *args)
            return combine(results) if combine is not None else None

        run.__doc__ = f":func:`{chunk.__name__}` over the whole batch, split over threads."
        return run

    whole = over(chunk)
    whole.py_func = over(getattr(chunk, "py_func", chunk))
    return whole


def whole_batch(chunk, count_arg: int):
    """The serial function of a chunk kernel: ``chunk(*args, 0, len(args[count_arg]))``, one compiled call.

    Serial and split runs share the one compiled chunk kernel, so a first batch compiles each kernel once.
    """

    def over(fn):
        def run(*args):
            return fn(*args, 0, len(args[count_arg]))

        run.__doc__ = f":func:`{chunk.__name__}` over the whole batch in the calling thread."
        return run

    serial = over(chunk)
    serial.py_func = over(getattr(chunk, "py_func", chunk))
    return serial
