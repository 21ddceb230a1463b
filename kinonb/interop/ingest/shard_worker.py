"""One shard of a sharded ingest (:mod:`.shards`), written so that a crash loses only what was not committed.

Shard i is written to ``DIR/.kinonb-ingest/shard-0000i.knb.partial`` (:func:`.shard_plan.partial_path`), a file
that commits every ``autocommit_bytes`` / ``autocommit_episodes`` (fsynced). A run that finds the partial file
removes its uncommitted tail (those episodes are read from the source again), counts its committed episodes c
and appends the source episodes start + c .. stop - 1 to it, so nothing is written twice and nothing is left
out. The complete file is renamed to ``DIR/shard-0000i.knb``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from ...errors import IngestWarning, KinonbError, SourceLayoutError
from ...store.atomic import publish
from ...store.reader import Database
from ...store.report import Report
from ...store.transfer import Checkpointed
from ...store.validate import repair
from . import ingest
from .shard_plan import partial_path, shard_name

#: A worker hands its episode counts to the parent at most this often (seconds).
TICK_SECONDS = 0.1


@dataclass(frozen=True)
class ShardJob:
    """What one shard needs: the source, its format and ingest options (the plan's), the folder, the shard's
    index and source episodes ``start .. stop - 1``, and how often its partial file commits."""

    src: str
    format: str
    options: dict
    out_dir: str
    index: int
    start: int
    stop: int
    autocommit_bytes: int | None
    autocommit_episodes: int | None

    def where(self) -> str:
        return f"shard {self.index} (source episodes {self.start}..{self.stop - 1})"


class Ticker:
    """The progress callable a shard's ingest is given: it counts the episodes written, hands the counts to
    ``send`` at most every TICK_SECONDS, and knows ``position``, the source episode being read or written."""

    def __init__(self, send, position: int = 0, alive=None):
        self.send, self.position, self.pending, self.sent_at = send, position, 0, time.monotonic()
        self.alive = alive  # a worker process's check that its parent still runs (None: in the parent itself)

    def __call__(self, iterable):
        for item in iterable:
            yield item
            self.position += 1
            self.add(1)

    def add(self, n: int) -> None:
        self.pending += n
        if time.monotonic() - self.sent_at >= TICK_SECONDS:
            self.flush()
            if self.alive is not None and not self.alive():
                raise KinonbError("the sharded ingest that started this worker is gone (killed?); the worker stops, "
                                  "keeping what it committed")

    def flush(self) -> None:
        if self.pending:
            self.send(self.pending)
            self.pending, self.sent_at = 0, time.monotonic()


def write_shard(job: ShardJob, ticker: Ticker) -> Report:
    """Write (or finish) shard ``job.index``; returns its report. The ticker counts its episodes, those kept
    from an earlier run included."""
    final = Path(job.out_dir) / shard_name(job.index)
    partial = partial_path(job.out_dir, job.index)
    want = job.stop - job.start
    if final.is_file() and not partial.exists():  # renamed into place before the plan said so
        ticker.add(want)
        ticker.flush()
        return Report("ingest", source=job.src, output=str(final), format=job.format, episodes=want)
    kept, removed = _committed(partial, job, want)
    ticker.position = job.start + kept
    ticker.add(kept)
    if kept < want:
        out = Checkpointed(str(partial), job.autocommit_bytes, job.autocommit_episodes)
        report = ingest(job.src, out, format=job.format, episodes=range(job.start + kept, job.stop),
                        progress=ticker, **job.options)
        if report.episodes != want - kept:
            raise SourceLayoutError(job.src, f"{want - kept} more episodes for {job.where()}",
                                    f"{report.episodes}", "the source changed since the plan was made?")
    else:
        report = Report("ingest", source=job.src, format=job.format)
    report.output = str(final)
    if kept:
        report.note(f"{shard_name(job.index)}: {kept} episodes kept from an earlier run"
                    + (f" (an uncommitted tail of {removed} bytes removed)" if removed else ""))
    publish(partial, final, overwrite=True)  # the partial file is fsynced by its last commit
    ticker.flush()
    return report


def _committed(partial: Path, job: ShardJob, want: int) -> tuple[int, int]:
    """(episodes committed in the partial file, bytes of an uncommitted tail removed from it); (0, 0) without
    one."""
    if not partial.exists():
        return 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the removed tail is said in the report's note
        removed = repair(partial, force=True)
    db = Database(partial)
    try:
        kept = len(db)
    finally:
        db.close()
    if kept > want:
        raise SourceLayoutError(partial, f"at most the {want} episodes of {job.where()}", f"{kept} episodes",
                                "not this plan's file; start afresh with --overwrite (overwrite=True)")
    return kept, removed


def located(error: BaseException, job: ShardJob, position: int) -> BaseException:
    """``error`` (of its own type) with its message saying where it happened and how to continue."""
    text = (f"{error} [{job.where()}, at source episode {position}; the episodes committed before it are kept: "
            "run the same command again to continue]")
    try:
        error.args = (text,)
        said = str(error) == text
    except Exception:  # noqa: BLE001 - an exception type whose args cannot be set: add a note instead
        said = False
    if not said:
        error.add_note(text)
    return error


def portable(error: BaseException) -> BaseException:
    """``error`` when it survives pickling (to the parent process), else a KinonbError saying what it was."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - whatever pickling raises, the parent still gets the message
        return KinonbError(f"{type(error).__name__}: {error}")


def worker_main(tasks, results) -> None:
    """A worker process: writes the shards it takes from ``tasks`` until it takes None, telling ``results``
    ("started", i, pid), ("episodes", i, n), ("done", i, report) or ("failed", i, error, position)."""
    warnings.simplefilter("ignore", IngestWarning)  # the parent announces the merged report's skips once
    parent = multiprocessing.parent_process()
    alive = None if parent is None else parent.is_alive
    while (job := tasks.get()) is not None and (alive is None or alive()):
        results.put(("started", job.index, os.getpid()))
        ticker = Ticker(lambda n, i=job.index: results.put(("episodes", i, n)), job.start, alive)
        try:
            report = write_shard(job, ticker)
        except Exception as e:  # noqa: BLE001 - every failure goes to the parent, which raises it
            ticker.flush()
            results.put(("failed", job.index, portable(e), ticker.position))
            return
        results.put(("done", job.index, report))
