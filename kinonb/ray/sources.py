"""Which ``.knb`` files a Ray read covers: one path or URL, a list of them, or a sharded dataset folder.

A dataset folder (with a ``kinonb-dataset.json`` manifest, or just its ``*.knb`` files in name order), its
manifest, or an object-storage prefix is resolved through :func:`kinonb.interop.dataset.open_dataset`: a
manifest's shards are read at the commit it pins, a folder's at the commit each had when the read was
planned. Each file is a :class:`Source`: small and picklable, opened again by every read task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ArgumentTypeError, InvalidArgumentError
from ..interop.dataset import is_dataset_location, open_dataset
from ..interop.opener import open as open_file


@dataclass(frozen=True)
class Source:
    """One file of the read: its path or URL, the commit read (None: the newest) and how to open it."""

    path: str
    commit: int | None = None
    storage_options: dict | None = None  # fsspec options of a remote URL
    open_options: tuple = ()  # further kinonb.open keywords, as sorted (name, value) pairs

    def open(self):
        """The reader of this file (each read task opens its own)."""
        options = dict(self.open_options)
        if self.commit is not None:
            options["commit"] = self.commit
        if self.storage_options is not None:
            options["storage_options"] = self.storage_options
        return open_file(self.path, **options)


def resolve(paths, *, storage_options: dict | None = None, open_options: dict | None = None) -> list[Source]:
    """The files named by ``paths`` (a path, a URL, a dataset folder or manifest, or a list of those), in
    dataset order."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    try:
        items = list(paths)
    except TypeError:
        raise ArgumentTypeError(f"paths must be a path, a URL or a list of them, got {type(paths).__name__}") from None
    if not items:
        raise InvalidArgumentError("paths: no file to read (an empty list)")
    extra = tuple(sorted((open_options or {}).items()))
    out = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise ArgumentTypeError(f"paths: each entry must be a path or a URL, got {type(item).__name__}")
        text = os.fspath(item)
        if is_dataset_location(text):
            out.extend(Source(p, c, storage_options, extra) for p, c in _shards(text, storage_options))
        else:
            out.append(Source(text, None, storage_options, extra))
    return out


def _shards(location: str, storage_options: dict | None) -> list[tuple[str, int | None]]:
    """(path or URL, commit) of each shard of a dataset folder, manifest or prefix, as ``open_dataset`` opens
    them (a manifest's pinned commits; a remote shard at its newest, which the manifest is checked against)."""
    with open_dataset(location, storage_options=storage_options) as ds:
        return [(path, None if _remote(path) else shard.commit_seq) for path, shard in zip(ds.shard_paths, ds.shards)]


def _remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")
