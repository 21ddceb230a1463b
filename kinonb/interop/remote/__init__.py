"""Remote .knb files: fsspec range reads (:mod:`.source`) into a bounded local block cache (:mod:`.mirror`),
read by the ordinary reader (:mod:`.database`). Extra ``remote`` (fsspec, s3fs); imported only when used."""

from .database import RemoteDatabase, is_remote

__all__ = ["RemoteDatabase", "is_remote"]
