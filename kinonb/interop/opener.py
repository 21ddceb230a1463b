"""``kinonb.open``: pick the reader for a file by its magic bytes (and ``validate_any``, the checker)."""

from __future__ import annotations

import errno
import os

from ..errors import BadMagicError, FormatError, InvalidArgumentError, MissingFileError, TruncatedFileError
from ..format import layout as L
from ..store.reader import Database
from ..store.report import Report
from ..store.validate import validate
from .kdb_layout import MAGIC as KDB_MAGIC
from .kdb_reader import KdbDatabase
from .kdb_validate import validate_kdb


def file_format(path) -> str:
    """``"knb"`` or ``"kdb"`` from the first bytes of ``path``; FormatError for anything else."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise MissingFileError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
    try:
        magic = os.pread(fd, 8, 0)
    finally:
        os.close(fd)
    if magic == L.HEADER_MAGIC:
        return "knb"
    if len(magic) < 8 and L.HEADER_MAGIC.startswith(magic):
        raise TruncatedFileError(path, 0, f"a {L.HEADER.itemsize}-byte header", f"a {len(magic)}-byte file",
                                 "file seems not fully written")
    if magic[:4] == KDB_MAGIC:
        return "kdb"
    raise BadMagicError(path, 0, f"a .knb ({L.HEADER_MAGIC!r}) or kinodb .kdb ({KDB_MAGIC!r}) magic", magic,
                        "not a kinonb or kinodb file")


def open(path, *, access: str = "normal", commit: int | None = None, storage_options: dict | None = None,  # noqa: A001
         **remote_options):
    """Open a .knb file, or a kinodb .kdb v0.1 file, for reading (a :class:`kinonb.protocol.EpisodeReader`).

    ``access`` is a hint to the kernel for a .knb file's memory map: ``"normal"`` (read-ahead around each page
    fault), ``"random"`` (no read-ahead: far faster for sparse reads from a cold page cache, e.g. actions-only
    windows in a file with images), or ``"sequential"``. It changes speed only, never results.

    ``commit=k`` opens an earlier commit of a .knb file, as ``kinonb log`` numbers them (1 = the first);
    negative k counts back from the newest (``-2``: the one before it). Pin it for a reproducible training run.

    A URL (``s3://bucket/key.knb``, ``gs://``, ``https://``, any fsspec URL) opens the remote file through range
    requests (:class:`kinonb.interop.remote.RemoteDatabase`; ``storage_options`` go to fsspec, and
    ``cache_bytes`` / ``cache_dir`` / ``block_bytes`` size its local block cache; extra ``remote``).

    A sharded dataset (a folder of shards, its ``kinonb-dataset.json``, or a URL prefix ending in ``/``) opens
    as one reader: :func:`kinonb.open_dataset`.
    """
    from .dataset.manifest import is_dataset_location

    if is_dataset_location(path):
        from .dataset import open_dataset

        if commit is not None:
            raise InvalidArgumentError(f"{path}: a dataset's manifest pins its shards' commits; open it without "
                                       f"commit= (write the manifest again to move them)")
        return open_dataset(path, storage_options=storage_options, access=access, **remote_options)
    if isinstance(path, str) and "://" in path and not path.startswith("file://"):
        from .remote import RemoteDatabase

        if commit is not None:
            raise InvalidArgumentError(f"{path}: a remote file is read at its newest commit; open it without commit=")
        return RemoteDatabase(path, storage_options=storage_options, access="random" if access == "normal" else
                              access, **remote_options)
    if storage_options is not None or remote_options:
        raise InvalidArgumentError(f"storage_options and {sorted(remote_options)} apply to remote URLs, not {path!r}")
    path = os.fspath(path)
    if file_format(path) == "knb":
        return Database(path, access=access, commit=commit)
    if commit is not None:
        raise InvalidArgumentError(f"{path}: a kinodb .kdb file has one commit; open it without commit=")
    return KdbDatabase(path)


def validate_any(path, *, deep: bool = False, progress=None) -> Report:
    """:func:`kinonb.validate` for a .knb file, :func:`validate_kdb` for a .kdb file; a file that is neither
    gets validate's report of what is wrong with it; a dataset folder, :func:`validate_dataset`'s."""
    from .dataset.manifest import is_dataset_location

    if is_dataset_location(path):
        from .dataset.validate import validate_dataset

        return validate_dataset(path, deep=deep, progress=progress)
    try:
        fmt = file_format(path)
    except (FormatError, OSError):
        fmt = "knb"
    if fmt == "kdb":
        return validate_kdb(path, deep=deep, progress=progress)
    return validate(path, deep=deep, progress=progress)
