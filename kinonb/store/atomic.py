"""Atomic file output: every command that makes a file writes a temporary file beside it, fsyncs it, moves it
into place and fsyncs the directory, so a crash leaves either no output or the complete one, never a part.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import OutputExistsError, WriterLockedError


def temporary_path(path: Path, purpose: str) -> Path:
    """The temporary name beside ``path`` (hidden, tagged with the pid, so concurrent processes never share)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{purpose}")


def refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")


def refuse_if_locked(path: Path, why: str = "is locked by another writer; not overwriting it") -> None:
    """Raise WriterLockedError if a writer holds the lock of ``path`` (probing takes and drops it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WriterLockedError(f"{path} {why}") from None
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, path: Path, *, overwrite: bool, sync: bool = True) -> None:
    """Move the complete (and, with ``sync``, already fsynced) ``tmp`` to ``path``; fsync the directory.

    Without ``overwrite`` a file that appeared at ``path`` meanwhile is never clobbered (link, then unlink).
    """
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise OutputExistsError(f"{path} appeared while it was being written; not replacing it") from None
        os.unlink(tmp)
    if sync:
        fsync_path(path.parent)


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, purpose: str = "writing"):
    """``with atomic_output(out) as tmp:`` write the whole file at ``tmp``; on success it is fsynced and moved to
    ``out``; on any exception it is removed and ``out`` is untouched."""
    path = Path(os.fspath(path))
    refuse_existing(path, overwrite)
    if path.exists():
        refuse_if_locked(path)
    tmp = temporary_path(path, purpose)
    try:
        yield tmp
        fsync_path(tmp)
        publish(tmp, path, overwrite=overwrite)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def remove_stale_temporary(tmp: Path) -> None:
    """Unlink a temporary file of create() unless a create still holds its lock (then it is not stale)."""
    refuse_if_locked(tmp, "is being created by this process already")
    tmp.unlink()
