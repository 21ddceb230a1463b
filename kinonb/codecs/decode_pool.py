"""The per-process thread pool that decodes camera frames of a batch in parallel (the decoders release the GIL).

Its size is ``kinonb.set_decode_threads(n)``, else the environment variable ``KINONB_DECODE_THREADS``, else the
CPUs this process may run on. It is created on first use and dropped in a forked child (a DataLoader worker
starts its own), so no thread pool and no decoder is inherited across fork.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ..errors import InvalidArgumentError

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_size: int | None = None  # set_decode_threads(); None: the environment or the CPU count
_lock = threading.Lock()


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def decode_threads() -> int:
    """Threads a batch decodes on (1: decode in the calling thread)."""
    if _size is not None:
        return _size
    env = os.environ.get("KINONB_DECODE_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise InvalidArgumentError(f"KINONB_DECODE_THREADS must be a positive integer, got {env!r}") from None
        if n >= 1:
            return n
        raise InvalidArgumentError(f"KINONB_DECODE_THREADS must be a positive integer, got {env!r}")
    return _cpus()


def set_decode_threads(n: int | None) -> None:
    """Decode camera frames on ``n`` threads per process (None: back to KINONB_DECODE_THREADS or the CPU count)."""
    global _size, _pool
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise InvalidArgumentError(f"decode threads must be a positive integer or None, got {n!r}")
    with _lock:
        _size = n
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(size, thread_name_prefix="kinonb-decode"), size
        return _pool


def _after_fork_in_child() -> None:
    global _pool, _lock
    _pool = None  # its threads do not exist in the child; never join them
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run(tasks: list) -> None:
    """Run zero-argument callables, on the pool when there are several; the first exception is re-raised after
    every task has finished (none is left writing into a buffer the caller may free)."""
    size = decode_threads()
    if len(tasks) < 2 or size < 2:
        for task in tasks:
            task()
        return
    futures = [_executor(size).submit(task) for task in tasks]
    first = None
    for f in futures:
        e = f.exception()
        if e is not None and first is None:
            first = e
    if first is not None:
        raise first
