"""Parallel, resumable, sharded ingest: a source's episodes into N ``.knb`` shards of a dataset folder.

    >>> from kinonb.interop.ingest.shards import ingest_shards
    >>> report = ingest_shards("demos.hdf5", "demos/", shards=8, workers=4, fps=20)

(``kinonb ingest demos.hdf5 -o demos/ --shards 8 --workers 4 --fps 20`` on the command line.) Shard i is
``shard-0000i.knb`` and holds the i-th contiguous run of source episodes (balanced counts), so the folder, read as
one dataset (its manifest ``kinonb-dataset.json``, written when every shard is complete), holds the episodes of a
plain ``ingest(src, "one.knb", ...)`` in the same order, with the same values, metadata and episode ids. Each
shard reads only its own source episodes (the common ``episodes=`` option, :mod:`.selection`).

Resumable: the plan (:mod:`.shard_plan`) records the source, its format, the options and each shard's
episodes; a shard in progress commits on the way (:mod:`.shard_worker`). Run the same command again after a
crash, a kill or a failed episode and it continues where it stopped: finished shards are kept, a partial shard
keeps its committed episodes and appends the rest, so no episode is missing or written twice. A run whose
source, format, options or shard count differ from the plan's is refused (``overwrite=True`` starts afresh);
a finished folder run again is a no-op that says so.

Parallel: ``workers`` > 1 starts that many worker processes ("forkserver", else "spawn": safe with h5py and
numba; a script that calls this needs the ``if __name__ == "__main__":`` guard), each taking whole shards from a
queue; ``workers=1`` writes the shards in this process. ``progress`` (e.g. ``tqdm.tqdm``)
counts the episodes of every shard. A failing shard stops the run (the other workers are stopped; what they
committed is kept) with its error, which names the shard and the source episode.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import queue
import warnings
from pathlib import Path

from ...errors import IngestWarning, InvalidArgumentError, KinonbError, OutputExistsError, WriterLockedError
from ...store.autocommit import DEFAULT_AUTOCOMMIT_BYTES
from ...store.reader import Database
from ...store.report import Report
from ...store.transfer import Sized
from ..dataset.manifest import MANIFEST_NAME, write_manifest
from . import count_episodes, detect
from .shard_plan import (
    RUN_OPTIONS,
    STATE_DIR,
    Plan,
    clear_outputs,
    load_plan,
    plan_options,
    refuse_foreign,
    save_plan,
    source_key,
)
from .shard_worker import ShardJob, Ticker, located, worker_main, write_shard

#: Seconds the parent waits for a worker's message before it checks that the workers are alive.
POLL_SECONDS = 0.5


def ingest_shards(src, out_dir, *, shards: int, workers: int = 1, format: str | None = None, resume: bool = True,
                  overwrite: bool = False, progress=None, autocommit_bytes: int | None = DEFAULT_AUTOCOMMIT_BYTES,
                  autocommit_episodes: int | None = None, **ingest_options) -> Report:
    """Ingest ``src`` into ``shards`` .knb files in the folder ``out_dir`` with ``workers`` processes (see the
    module docstring); ``ingest_options`` are :func:`~kinonb.interop.ingest.ingest`'s (not ``episodes``).
    ``resume=False`` refuses a folder holding a plan instead of continuing it; ``overwrite`` starts afresh.
    ``autocommit_bytes`` / ``autocommit_episodes``: how often a shard in progress commits (what a crash loses).
    Returns the merged report of the shards (episodes and frames: the whole dataset's)."""
    for name, value in (("shards", shards), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(f"{name} must be an int >= 1, got {value!r}")
    if "episodes" in ingest_options:
        raise InvalidArgumentError("a sharded ingest chooses each shard's episodes; use max_episodes to cap them")
    tried = None
    if format is None:
        format, tried = detect(src)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder; a sharded ingest writes a dataset folder")
    out.mkdir(parents=True, exist_ok=True)
    options = {k: v for k, v in ingest_options.items() if k not in RUN_OPTIONS}
    with _folder_lock(out):
        plan = _settled_plan(src, out, format, options, shards, resume=resume, overwrite=overwrite)
        if all(plan.done) and (out / MANIFEST_NAME).is_file():
            report = _merged(plan, out)
            report.note(f"{out}: already complete ({len(plan.shards)} shards, {plan.total} episodes): nothing to do")
            return report
        pending = plan.done.count(False)
        fresh = _write_shards(plan, out, options, workers, progress, (autocommit_bytes, autocommit_episodes))
        write_manifest(out, plan.names())
        report = _merged(plan, out)
    for line in fresh:
        warnings.warn(f"{src}: {out}: skipped {line}", IngestWarning, stacklevel=2)
    used = 1 if pending <= 1 else min(workers, pending)
    report.note(f"{len(plan.shards)} shards, {pending} of them written in this run by {used} worker"
                f"{'s' if used > 1 else ''}; manifest {MANIFEST_NAME}")
    if tried is not None:
        report.note(f"format {format} detected (tried {', '.join(tried)})")
    return report


@contextlib.contextmanager
def _folder_lock(out: Path):
    """Hold the folder's lock (one sharded ingest into a folder at a time)."""
    with contextlib.ExitStack() as stack:
        fd = os.open(out, os.O_RDONLY)
        stack.callback(os.close, fd)  # closing the folder's fd releases the lock
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriterLockedError(f"{out}: another sharded ingest is writing this folder") from None
        yield


def _settled_plan(src, out: Path, fmt: str, options: dict, shards: int, *, resume: bool, overwrite: bool) -> Plan:
    """The plan this run follows: the folder's own when it matches the command, else a new one (saved)."""
    plan = load_plan(out) if not overwrite else None
    if overwrite:
        clear_outputs(out)
    elif plan is None:
        refuse_foreign(out)
    if plan is not None:
        if not resume:
            raise OutputExistsError(f"{out} holds the plan of a sharded ingest ({STATE_DIR}/): resume=True (without "
                                    f"--no-resume) continues it, overwrite=True (--overwrite) starts afresh")
        differences = plan.differences(source_key(src), fmt, plan_options(options), shards)
        if differences:
            raise InvalidArgumentError(f"{out} holds a sharded ingest of another command: this one asks for "
                                       f"{'; '.join(differences)}. Run the plan's command to continue it, or "
                                       "--overwrite (overwrite=True) to start afresh")
        for i, name in enumerate(plan.names()):
            plan.done[i] = plan.done[i] and (out / name).is_file()  # a shard removed since is written again
        if not all(plan.done):
            total = count_episodes(src, format=fmt, **options)
            if total != plan.total:
                raise InvalidArgumentError(f"{src} now gives {total} episodes, the plan in {out} {plan.total}: the "
                                           "source changed; --overwrite (overwrite=True) starts afresh")
        return plan
    plan = Plan.new(src, fmt, options, count_episodes(src, format=fmt, **options), shards)
    (out / STATE_DIR).mkdir(exist_ok=True)
    save_plan(out, plan)
    return plan


def _write_shards(plan: Plan, out: Path, options: dict, workers: int, progress, commits) -> list[str]:
    """Write the shards the plan does not have yet; returns the lines they skipped (each once)."""
    jobs = [ShardJob(plan.source, plan.source_format, options, str(out), i, start, stop, *commits)
            for i, (start, stop) in enumerate(plan.shards) if not plan.done[i]]
    skipped: dict = {}

    def done(i: int, report: Report) -> None:
        plan.summary(i, report)
        save_plan(out, plan)
        skipped.update(dict.fromkeys(report.skipped))

    bar = _Bar(progress, plan.total)
    try:
        bar.advance(sum(stop - start for (start, stop), d in zip(plan.shards, plan.done) if d))
        if workers == 1 or len(jobs) == 1:
            _in_this_process(jobs, bar, done)
        else:
            _in_processes(jobs, min(workers, len(jobs)), bar, done)
    finally:
        bar.close()
    return list(skipped)


def _in_this_process(jobs: list, bar: "_Bar", done) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IngestWarning)  # announced once for the merged report
        for job in jobs:
            ticker = Ticker(bar.advance, job.start)
            try:
                report = write_shard(job, ticker)
            except Exception as e:
                raise located(e, job, ticker.position) from None
            done(job.index, report)


def _in_processes(jobs: list, workers: int, bar: "_Bar", done) -> None:
    """Write ``jobs`` in ``workers`` processes; the first failure stops them all and is raised."""
    ctx = _context()
    tasks, results = ctx.Queue(), ctx.Queue()
    for job in [*jobs, *[None] * workers]:
        tasks.put(job)
    procs = [ctx.Process(target=worker_main, args=(tasks, results), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    left, running = {job.index: job for job in jobs}, {}
    try:
        while left:
            try:
                kind, i, *rest = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_alive(procs, running, left)
                continue
            if kind == "started":
                running[rest[0]] = i
            elif kind == "episodes":
                bar.advance(rest[0])
            elif kind == "done":
                done(i, rest[0])
                del left[i]
            else:
                raise located(rest[0], left[i], rest[1])
    finally:
        for p in procs:
            if left and p.is_alive():
                p.terminate()  # what it committed is kept for the next run
            p.join()


def _context():
    """The "forkserver" context, its server preloading the worker's module (a worker then starts in milliseconds,
    not an interpreter's start and kinonb's import), where the platform has it; else "spawn". Both are safe with
    h5py and numba (no fork of a process that runs threads)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", worker_main.__module__])  # "__main__": the default preload, kept
    return ctx


def _check_alive(procs: list, running: dict, left: dict) -> None:
    """A KinonbError when a worker died without saying why (killed), or every worker stopped with shards left."""
    for p in procs:
        if p.exitcode not in (None, 0):
            i = running.get(p.pid)
            where = f" while writing {left[i].where()}" if i in left else ""
            raise KinonbError(f"a worker process (pid {p.pid}) died with exit code {p.exitcode}{where}; the "
                              "episodes committed are kept: run the same command again to continue")
    if all(p.exitcode is not None for p in procs):
        raise KinonbError(f"the workers stopped with shards {sorted(left)} left; run the same command again")


class _Bar:
    """The ``progress`` callable (e.g. tqdm.tqdm) driven by hand: it wraps an iterable told the total, each
    episode written draws one item from it, and :meth:`close` ends it (so it counts as write_episodes' does)."""

    def __init__(self, progress, total: int):
        self._open = True
        self._it = None if progress is None else iter(progress(Sized(self._items(), total)))

    def _items(self):
        while self._open:
            yield None

    def advance(self, n: int) -> None:
        if self._it is not None:
            for _ in range(n):
                next(self._it, None)

    def close(self) -> None:
        self._open = False
        self.advance(1)  # the iterable ends: the bar counts the last item and closes


def _merged(plan: Plan, out: Path) -> Report:
    """One report for the dataset: its episodes and frames (read from the shards), and the shards' notes, skips,
    cameras and columns (each once, in shard order)."""
    report = Report("ingest", source=plan.source, output=str(out), format=plan.source_format)
    for name in plan.names():
        db = Database(out / name)
        try:
            report.episodes += len(db)
            report.frames += db.num_frames()
        finally:
            db.close()
    for summary in plan.reports:
        for key, values in (summary or {}).items():
            have = getattr(report, key)
            have.extend(v for v in values if v not in have)
    return report
