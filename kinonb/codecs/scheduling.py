"""The calling thread's scheduling policy, kept across FFmpeg encoder calls.

SVT-AV1 (FFmpeg's ``libsvtav1``), when the process is allowed to (as root, or with CAP_SYS_NICE), switches the
thread that opens an encoder to SCHED_FIFO priority 99 and leaves it there. Opening can happen inside PyAV's
``CodecContext.encode`` or a container's first ``mux``. Every thread and process started from that thread
afterwards inherits the real-time policy: a few busy DataLoader workers or reader processes at SCHED_FIFO then
starve the kernel's own writeback threads, and an ``fsync`` in the parent waits for minutes. Every kinonb call
that may open an FFmpeg encoder runs inside :func:`scheduling_kept`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def _current():
    try:
        return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    except (AttributeError, OSError):  # not on Linux, or not allowed to ask
        return None


@contextmanager
def scheduling_kept():
    """Run the block, then put this thread's scheduling policy and priority back as they were before it."""
    before = _current()
    try:
        yield
    finally:
        if before is not None and _current() != before:
            os.sched_setscheduler(0, before[0], os.sched_param(before[1]))
