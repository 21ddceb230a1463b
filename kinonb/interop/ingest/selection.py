"""Which source episodes an ingest reads: the common ``episodes=`` option, and counting a source's episodes.

Every format numbers its source episodes 0, 1, ... in its own order (after a filter such as hdf5's
``filter_key`` or an RLDS ``split``); ``max_episodes`` keeps the first N of them; ``episodes=range(start, stop)``
(step 1, inside what max_episodes keeps) reads only those, so that a shard of a sharded ingest
(:mod:`.shards`) reads its own episodes only. :func:`selected` is the one rule every format module applies,
where it applies max_episodes.

:func:`kinonb.interop.ingest.count_episodes` counts by running the format's ingest with ``episodes=COUNT``:
:func:`selected` then raises :class:`Counted`, before any episode is read and before anything is written, so
the count is the one the ingest itself would use (its filters and max_episodes included).
"""

from __future__ import annotations

import sys

from ...errors import InvalidArgumentError

#: ``episodes=COUNT``: stop the ingest at its :func:`selected` and say how many episodes it would take.
COUNT = object()
#: A source whose count is unknown until it is read (rrd) takes episodes up to this position.
UNBOUNDED = sys.maxsize


class Counted(Exception):
    """Raised by :func:`selected` for ``episodes=COUNT``: ``count`` episodes (after filters and max_episodes)."""

    def __init__(self, count: int):
        super().__init__(f"{count} episodes")
        self.count = count


def selected(count, max_episodes=None, episodes=None, *, counter=None) -> range:
    """The source positions an ingest reads: ``range(0, min(count, max_episodes))``, or ``episodes`` (a range
    of step 1 inside it). ``count`` None: unknown until the source is read (rrd); ``counter()`` then counts it
    when the count is asked for (``episodes=COUNT``), and a range is checked against max_episodes only (its
    end against the source by :func:`taken`)."""
    if count is None and episodes is COUNT and counter is not None:
        count = counter()
    cap = UNBOUNDED if count is None else int(count)
    if max_episodes is not None:
        cap = min(cap, int(max_episodes))
    if episodes is COUNT:
        raise Counted(cap)
    if episodes is None:
        return range(cap)
    if not isinstance(episodes, range) or episodes.step != 1:
        raise InvalidArgumentError(f"episodes must be a range of step 1 (range(start, stop)), got {episodes!r}")
    if not 0 <= episodes.start <= episodes.stop <= cap:
        within = f"the source's {cap}" if cap != UNBOUNDED else "the source's"
        raise InvalidArgumentError(f"episodes={episodes!r} is not within {within} episodes "
                                   f"(after filters and max_episodes)")
    return episodes


def taken(items, rng: range, source):
    """The items of ``items`` (every source episode in order) at the positions ``rng``, for a source whose
    count :func:`selected` did not know; an explicit range past the source's end is an InvalidArgumentError."""
    it, pos, end = iter(items), 0, object()
    while pos < rng.stop:
        item = next(it, end)
        if item is end:
            break
        if pos >= rng.start:
            yield item
        pos += 1
    if rng.stop != UNBOUNDED and pos < rng.stop:
        raise InvalidArgumentError(f"episodes={rng!r}: {source} holds only {pos} episodes")
