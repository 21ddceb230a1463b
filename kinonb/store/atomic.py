"""Atomic file output: every command that makes a file writes a temporary file beside it, fsyncs it, moves it
into place and fsyncs the directory, so a crash leaves either no output or the complete one, never a part.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import OutputExistsError, WriterLockedError

#: What every temporary's name starts with after the target's name (``.NAME.kinonb-PURPOSE.PID.tmp``).
TEMP_TAG = "kinonb-"


def temporary_path(path: Path, purpose: str) -> Path:
    """The temporary name beside ``path``: hidden, saying what it is and tagged with the pid, so concurrent
    processes never share one (``.data.knb.kinonb-ingesting.4242.tmp``). Temporaries of ``path`` that a killed
    process left (its pid is dead) are removed first."""
    remove_stale_temporaries(path)
    return path.with_name(f".{path.name}.{TEMP_TAG}{purpose}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Unlink the temporaries of ``path`` whose writer's pid is no longer alive (a SIGKILLed create, ingest or
    merge); also those named ``.NAME.PID.PURPOSE`` by kinonb before 0.3. Returns what was removed."""
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    prefix = f".{path.name}."
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid = _temporary_pid(entry.name[len(prefix):])
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _temporary_pid(rest: str) -> int | None:
    """The pid in the tail of a temporary's name (``kinonb-PURPOSE.PID.tmp`` or ``PID.PURPOSE``), else None."""
    parts = rest.split(".")
    if len(parts) == 3 and parts[0].startswith(TEMP_TAG) and parts[2] == "tmp" and parts[1].isdigit():
        return int(parts[1])
    if len(parts) == 2 and parts[0].isdigit() and parts[1] in ("creating", "writing", "ingesting"):
        return int(parts[0])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


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


@contextlib.contextmanager
def atomic_directory(path, *, overwrite: bool, replaceable, kind: str):
    """Yield an empty folder beside ``path``; when the block completes it becomes ``path`` (by rename), else it
    is removed. An existing ``path`` is replaced only with ``overwrite`` and only when ``replaceable(path)`` says
    it is a ``kind`` this kind of export wrote: never some other folder."""
    import shutil

    from ..errors import InvalidArgumentError

    out = Path(os.fspath(path))
    if out.exists():
        refuse_existing(out, overwrite)
        if not out.is_dir() or not replaceable(out):
            raise InvalidArgumentError(f"{out} exists and is not {kind}; refusing to replace it")
    tmp = out.with_name(f".{out.name}.kinonb-partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
