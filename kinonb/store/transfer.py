"""Copying episodes into a new .knb file: what merge, export and every ingest share.

``write_episodes`` writes an iterable of :meth:`Writer.add_episode` keyword dicts to a new file atomically, or,
given a :class:`Checkpointed` destination, appends them to a file that commits on the way (a resumable shard);
``episode_kwargs`` turns what a reader's ``read_episode`` returns back into such a dict.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass

from ..errors import SchemaError
from .atomic import atomic_output
from .autocommit import DEFAULT_AUTOCOMMIT_BYTES
from .report import Report
from .writer import append, create


@dataclass(frozen=True)
class Checkpointed:
    """A destination of :func:`write_episodes` written in place and committed on the way, so that a crash keeps
    every episode committed before it: ``path`` is created when absent, else appended to (a torn tail must have
    been removed, e.g. by ``kinonb.repair``); the writer commits (fsynced) whenever ``autocommit_bytes`` /
    ``autocommit_episodes`` are reached (store/autocommit.py) and at the end. Nothing renames it."""

    path: str
    autocommit_bytes: int | None = DEFAULT_AUTOCOMMIT_BYTES
    autocommit_episodes: int | None = None

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)


def episode_kwargs(ep: dict, *, keep_id: bool = True) -> dict:
    """Writer.add_episode keyword arguments that reproduce an episode returned by ``read_episode``."""
    meta = ep["meta"]
    kw = {
        "actions": ep.get("actions"),
        "states": ep.get("states"),
        "rewards": ep.get("rewards"),
        "is_terminal": ep.get("is_terminal"),
        "images": ep.get("images") or None,
        "columns": {name: ep[name] for name in meta.get("columns", [])} or None,
        "task": meta["task"],
        "embodiment": meta["embodiment"],
        "fps": meta["fps"],
        "success": meta["success"],
        "total_reward": meta["total_reward"],
        "attrs": meta.get("attrs") or None,
        "timestamps": ep.get("timestamps"),
        "streams": ep.get("streams") or None,
        "episode_arrays": ep.get("episode_arrays") or None,
    }
    if keep_id:
        kw["episode_id"] = meta["episode_id"]
    return kw


class Sized:
    """An iterable with a length, so that a progress callable (tqdm) knows the total."""

    def __init__(self, iterable, n: int):
        self._iterable, self._n = iterable, n

    def __iter__(self):
        return iter(self._iterable)

    def __len__(self):
        return self._n


def with_progress(iterable, progress, total: int | None = None):
    """``progress(iterable)`` (e.g. ``tqdm.tqdm``), told the total when known; ``iterable`` without one."""
    if progress is None:
        return iterable
    return progress(Sized(iterable, total) if total is not None else iterable)


def write_episodes(out, episodes, report: Report, *, compression=None, overwrite=False, progress=None,
                   total: int | None = None, embodiment=None, task=None, fps=None, dtypes=None) -> Report:
    """Write ``episodes`` (an iterable of Writer.add_episode kwargs, and of runs of episodes: objects with
    ``len``, ``source`` and ``kwargs()`` for one Writer.add_episodes call, e.g.
    :class:`kinonb.interop.ingest.batch.EpisodeBatch`) to the new file ``out`` (or append them to a
    :class:`Checkpointed` one); fill ``report``. ``progress`` counts episodes.

    An episode dict may carry ``source`` (where it came from, e.g. "a.knb episode 3"): it labels a SchemaError.
    ``embodiment`` / ``task`` / ``fps`` (when not None) override each episode's own values; ``dtypes`` is
    create's (``{column: dtype}``, a cast the writer records).
    """
    overrides = {k: v for k, v in (("embodiment", embodiment), ("task", task),
                                   ("fps", None if fps is None else float(fps))) if v is not None}
    cameras, columns = {}, {}

    def added(ep):
        report.episodes += 1
        cameras.update(dict.fromkeys(ep.get("images") or {}))
        columns.update(dict.fromkeys(ep.get("columns") or {}))

    with _writer(out, None if compression == "none" else compression, dtypes, overwrite) as w:
        for seen, ep in enumerate(with_progress(_one_per_episode(episodes), progress, total)):
            if ep is None:
                continue
            if not isinstance(ep, dict):  # a run written by one add_episodes call (overrides applied by its maker)
                try:
                    w.add_episodes(**ep.kwargs())
                except SchemaError as e:
                    raise SchemaError(f"{ep.source}: {e}") from e
                report.episodes += len(ep)
                continue
            ep.update(overrides)
            where = ep.pop("source", None) or f"source episode {seen}"
            try:
                w.add_episode(**ep)  # small low-dim ones are staged and written in batches (small_episodes.py)
            except SchemaError as e:
                raise SchemaError(f"{where}: {e}") from e
            added(ep)
        report.frames = w.num_frames
    report.cameras, report.columns = list(cameras), list(columns)
    return report


@contextlib.contextmanager
def _writer(out, compression, dtypes, overwrite: bool):
    """The writer of :func:`write_episodes`: of a temporary file renamed to ``out`` when complete, or of the
    :class:`Checkpointed` file itself."""
    if isinstance(out, Checkpointed):
        options = dict(compression=compression, sync=True, dtypes=dtypes, autocommit_bytes=out.autocommit_bytes,
                       autocommit_episodes=out.autocommit_episodes)
        with (append(out.path, **options) if os.path.exists(out.path) else create(out.path, **options)) as w:
            yield w
        return
    with atomic_output(out, overwrite=overwrite, purpose="ingesting") as tmp:
        # One commit: the file appears by rename when complete, so commits on the way would only add footers.
        with create(tmp, compression=compression, overwrite=True, sync=False, dtypes=dtypes,
                    autocommit_bytes=None) as w:
            yield w


def _one_per_episode(items):
    """``items``, each run followed by ``len(run) - 1`` Nones: one item per episode, for the progress bar."""
    for item in items:
        yield item
        if not isinstance(item, dict):
            yield from itertools.repeat(None, len(item) - 1)
