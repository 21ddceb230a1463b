"""``kinonb.open``: pick the reader for a file by its magic bytes."""

from __future__ import annotations

import builtins
import os

from ..format import layout as L
from ..errors import BadMagicError, TruncatedFileError

KDB_MAGIC = b"KINO"


def open(path, *, access: str = "normal"):  # noqa: A001  (kinodb's name for it)
    """Open a .knb file, or a kinodb .kdb v0.1 file, for reading.

    ``access`` is a hint to the kernel for a .knb file's memory map: ``"normal"`` (read-ahead around each page
    fault), ``"random"`` (no read-ahead: far faster for sparse reads from a cold page cache, e.g. actions-only
    windows in a file with images), or ``"sequential"``. It changes speed only, never results.
    """
    path = os.fspath(path)
    with builtins.open(path, "rb") as f:
        magic = f.read(8)
    if magic == L.HEADER_MAGIC:
        from ..store.reader import Database

        return Database(path, access=access)
    if len(magic) < 8 and L.HEADER_MAGIC.startswith(magic):
        raise TruncatedFileError(path, 0, f"a {L.HEADER.itemsize}-byte header", f"a {len(magic)}-byte file",
                                 "file seems not fully written")
    if magic[:4] == KDB_MAGIC:
        from .kdb_reader import KdbDatabase

        return KdbDatabase(path)
    raise BadMagicError(path, 0, f"a .knb ({L.HEADER_MAGIC!r}) or kinodb .kdb ({KDB_MAGIC!r}) magic", magic,
                        "not a kinonb or kinodb file")
