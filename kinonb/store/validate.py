"""Checking a whole file (``validate``) and cutting a torn tail back to the last intact commit (``repair``)."""

from __future__ import annotations

import fcntl
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ChecksumError, CorruptFieldError, FormatError, WriterLockedError
from ..format import layout as L
from ..format.totals import check_frame_total
from .reader import Database
from .recovery import find_last_commit, inspect_tail, refuse_recoverable_tail
from .report import Report


def validate(path, *, deep: bool = False, progress=None) -> Report:
    """Check every structure of the newest intact commit; with ``deep``, every block's CRC-32 and contents too.

    Problems are collected in the report (``ok`` False) instead of raised.
    """
    report = Report("validate", path=str(path), ok=True, deep=deep, commits=0, ignored_bytes=0, blocks_checked=0,
                    nan_count={}, inf_count={})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            db = Database(path)
    except (FormatError, OSError) as e:
        report.fail(e)
        return report
    report.ignored_bytes = db.ignored_bytes
    report.commits = db.commit_seq
    if db.ignored_bytes:
        _check_tail(db, report)
    try:
        _check_index(db, report)
        if deep:
            _check_blocks(db, report, progress)
    except FormatError as e:
        report.fail(e)
    return report


def _check_tail(db: Database, report: Report) -> None:
    """A torn append is a warning; a tail holding recoverable episodes or more than a torn append is not."""
    fd = os.open(db._path, os.O_RDONLY)
    try:
        tail = inspect_tail(fd, db._path, db._commit)
    finally:
        os.close(fd)
    report.unreachable_bytes = tail.nbytes if tail.at_risk else 0
    report.recoverable_episodes = tail.recoverable
    if tail.at_risk:
        report.ok = False
        report.errors.append(f"{db._path}: {tail.describe(db._path)}; `kinonb validate --repair` would remove them"
                             + (" (it refuses without --force)" if tail.recoverable else ""))
    else:
        report.warnings.append(f"{tail.describe(db._path)}; `kinonb validate --repair` removes them")


def _check_index(db: Database, report: Report) -> None:
    index = db._index
    index.ensure_all()
    report.episodes = index.n
    report.frames = check_frame_total(db._path, None, db.num_frames(), index.episodes["num_frames"],
                                      "footer num_frames")
    for p in range(index.n):
        index.attrs(p)


def _check_blocks(db: Database, report: Report, progress) -> None:
    index, buf = db._index, db._buf
    for c, col in enumerate(db._columns):
        report.nan_count[col.name] = 0
        report.inf_count[col.name] = 0
    rows = range(index.n) if progress is None else progress(range(index.n))
    for p in rows:
        for c, col in enumerate(db._columns):
            blk = index.blocks[p, c]
            if not blk["flags"] & L.BLOCK_PRESENT:
                continue
            off, nbytes = int(blk["offset"]), int(blk["nbytes"])
            got = L.crc32(buf[off : off + nbytes])
            if got != int(blk["crc32"]):
                raise ChecksumError(db._path, off, f"CRC-32 {int(blk['crc32']):#010x} of episode {p} column "
                                    f"{col.name!r} ({nbytes} bytes)", f"{got:#010x}")
            arr = db._column(p, c)  # decodes lz4 frames: a bad frame raises
            if col.dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
                raise CorruptFieldError(db._path, off, f"bool bytes 0 or 1 in episode {p} column {col.name!r}",
                                        int(arr.view(np.uint8).max()))
            if col.dtype.kind == "f" and arr.size:
                report.nan_count[col.name] += int(np.isnan(arr).sum())
                report.inf_count[col.name] += int(np.isinf(arr).sum())
            report.blocks_checked += 1


def repair(path, *, force: bool = False) -> int:
    """Truncate bytes after the last intact commit. Returns how many were removed. Takes the writer lock.

    Refuses (:class:`RecoverableTailError`) when those bytes hold episodes that ``kinonb salvage`` can recover,
    unless ``force``; warns with what it removes before removing it.
    """
    path = Path(os.fspath(path))
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriterLockedError(f"{path} is locked by a writer; repair it when the writer is done") from None
        commit, _ = find_last_commit(fd, path)
        removed = commit.ignored_bytes
        if removed:
            tail = inspect_tail(fd, path, commit) if force else refuse_recoverable_tail(fd, path, commit, "repair")
            held = f", holding {tail.recoverable} recoverable episodes (force=True)" if tail.recoverable else ""
            warnings.warn(f"{path}: removing {removed} bytes [{commit.end}, {commit.file_size}) after commit "
                          f"{commit.seq}{held}", UserWarning, stacklevel=2)
            os.ftruncate(fd, commit.end)
            os.fsync(fd)
        return removed
    finally:
        os.close(fd)
