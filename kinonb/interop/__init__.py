"""Interop with kinodb's ``.kdb`` v0.1 files: :class:`KdbDatabase` reads them, :func:`write_kdb` writes them."""

from .kdb_layout import MAGIC as KDB_MAGIC
from .kdb_reader import KdbDatabase
from .kdb_writer import write_kdb

__all__ = ["KDB_MAGIC", "KdbDatabase", "write_kdb"]
