"""Jobs run ahead on a few threads and handed back in order: the engine of :class:`kinonb.torch.Loader`.

A job is one read (a batch, or several small batches at once). kinonb's kernels release the GIL, so reads on
``threads`` threads overlap each other and the training step, with nothing pickled and no process started.
Each thread splits its own reads over no further thread (its siblings use the other cores).

Buffers are reused, FFCV-style, but only when nothing refers to them any more: a :class:`Slot` remembers the
reference count of each array it owns, and a thread takes a slot again only when every batch view of it has
been dropped. A loop that keeps its batches (``list(loader)``) gets fresh memory for each and loses nothing.
"""

from __future__ import annotations

import sys
import threading

from ..kernels.threads import limit_this_thread


class Slot:
    """Arrays one read fills (``out=``), reusable once no batch view of them is alive."""

    __slots__ = ("arrays", "_baseline")

    def __init__(self, arrays: dict):
        self.arrays = arrays
        self._baseline = {k: sys.getrefcount(a) for k, a in arrays.items()}

    def idle(self) -> bool:
        """True when only this slot refers to its arrays (every view handed out has been dropped)."""
        return all(sys.getrefcount(a) <= self._baseline[k] for k, a in self.arrays.items())


class SlotPool:
    """Slots handed back by the consumer, taken again by reader threads when idle."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self._free: list[Slot] = []
        self._lock = threading.Lock()

    def take(self) -> Slot | None:
        """An idle slot, or None. A slot the loop still holds a batch of (``for batch in loader`` keeps the last
        one while the next is read) stays in the pool for a later take."""
        with self._lock:
            for i, slot in enumerate(self._free):
                if slot.idle():
                    return self._free.pop(i)
        return None

    def give(self, slot: Slot | None) -> None:
        """Hand ``slot`` back; beyond ``keep`` slots the oldest is forgotten (its memory stays the loop's)."""
        if slot is None:
            return
        with self._lock:
            self._free.append(slot)
            del self._free[: -max(1, self.keep)]


def ordered(job, count: int, threads: int, ahead: int):
    """Yield ``job(0) .. job(count - 1)`` in order, run on ``threads`` threads (0: in the caller), at most
    ``ahead`` jobs past the last one taken. An exception is raised where its job's result would be. Closing the
    generator (a ``break`` in the loop) stops the threads after the jobs they are running."""
    if threads <= 0:
        for k in range(count):
            yield job(k)
        return
    cond = threading.Condition()
    state = {"next": 0, "taken": 0, "stop": False}
    results: dict = {}

    def work() -> None:
        limit_this_thread(1)
        while True:
            with cond:
                while not state["stop"] and state["next"] < count and state["next"] >= state["taken"] + ahead:
                    cond.wait()
                if state["stop"] or state["next"] >= count:
                    return
                k = state["next"]
                state["next"] = k + 1
            try:
                result = (True, job(k))
            except BaseException as e:  # raised in the consumer, at job k
                result = (False, e)
            with cond:
                results[k] = result
                cond.notify_all()

    workers = [threading.Thread(target=work, name=f"kinonb-loader-{i}", daemon=True)
               for i in range(min(threads, count))]
    for t in workers:
        t.start()
    try:
        for k in range(count):
            with cond:
                while k not in results:
                    cond.wait()
                ok, value = results.pop(k)
                state["taken"] = k + 1
                cond.notify_all()
            if not ok:
                raise value
            yield value
            del value
    finally:
        with cond:
            state["stop"] = True
            results.clear()
            cond.notify_all()
        for t in workers:
            t.join()
