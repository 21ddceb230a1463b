"""``kinonb.open_dataset(path_or_url)``: a folder (or object-storage prefix) of ``.knb`` shards as one reader.

Local: the folder's ``kinonb-dataset.json`` (:mod:`.manifest`) names the shards, each opened at the commit the
manifest pins; a folder without one is its ``*.knb`` files in name order at their newest commits. Remote
(``s3://bucket/ds/``, any fsspec URL ending in ``/`` or naming the manifest): the manifest is fetched in one
request, then every shard is opened through range requests (:class:`kinonb.interop.remote.RemoteDatabase`,
several at once); a remote shard must still be at the commit its manifest names (a remote file is read at its
newest commit only), else the dataset is refused. ``cache_bytes`` bounds the block caches of all the shards
together (each gets its share).
"""

from __future__ import annotations

import posixpath
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...errors import CorruptFieldError, InvalidArgumentError
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    Manifest,
    manifest_file,
    parse_manifest,
    read_local_manifest,
    shard_files,
)
from .sharded import ShardedDatabase

#: Remote shards opened at once (each open is a few small range requests).
OPEN_THREADS = 16


def open_dataset(location, *, storage_options: dict | None = None, access: str = "normal", **remote_options):
    """The dataset at ``location`` (folder, manifest file or URL) as a :class:`ShardedDatabase`; see the module
    docstring. ``access`` as for :func:`kinonb.open`; ``storage_options`` and ``cache_bytes`` / ``cache_dir`` /
    ``block_bytes`` apply to remote datasets."""
    from ..remote import is_remote

    text = str(location)
    reopen = (_reopen, (text, storage_options, access, remote_options))
    if is_remote(text):
        return _open_remote(text, storage_options, access, remote_options, reopen)
    if storage_options is not None or remote_options:
        raise InvalidArgumentError(f"storage_options and {sorted(remote_options)} apply to remote datasets, not "
                                   f"{text!r}")
    return _open_local(Path(location), access, reopen)


def _reopen(location, storage_options, access, remote_options):
    return open_dataset(location, storage_options=storage_options, access=access, **remote_options)


def _open_local(location: Path, access: str, reopen) -> ShardedDatabase:
    from ...store.reader import Database

    def open_file(path, commit=None):
        return Database(path, access=access, commit=commit)

    file = manifest_file(location)
    if file is None:  # the folder's .knb files, each at its newest commit
        paths = shard_files(location)
        return ShardedDatabase([open_file(p) for p in paths], str(location), shard_paths=paths,
                               reopen=reopen)
    manifest = read_local_manifest(file)
    paths = [str(file.parent / s.path) for s in manifest.shards]
    shards = [open_file(p, s.commit) for p, s in zip(paths, manifest.shards)]
    _check_counts(manifest, shards)
    return ShardedDatabase(shards, str(file.parent), shard_paths=paths, reopen=reopen)


def _open_remote(url: str, storage_options, access: str, remote_options: dict, reopen) -> ShardedDatabase:
    from ..remote import RemoteDatabase
    from ..remote.mirror import BLOCK_BYTES, CACHE_BYTES
    from ..remote.source import RangeSource

    if not (url.endswith("/") or url.endswith(MANIFEST_NAME)):
        raise InvalidArgumentError(f"{url}: a remote dataset is a prefix ending in '/' or its {MANIFEST_NAME}")
    manifest_url = url if url.endswith(MANIFEST_NAME) else url + MANIFEST_NAME
    root = posixpath.dirname(manifest_url) + "/"
    source = RangeSource(manifest_url, dict(storage_options or {}))
    if source.size > MAX_MANIFEST_BYTES:
        raise CorruptFieldError(manifest_url, None, f"a manifest of at most {MAX_MANIFEST_BYTES} bytes",
                                f"{source.size} bytes")
    manifest = parse_manifest(source.read([0], [source.size])[0], manifest_url)
    n = len(manifest.shards)
    options = dict(remote_options)
    share = options.pop("cache_bytes", CACHE_BYTES) // n
    options["cache_bytes"] = max(share, 4 * options.get("block_bytes", BLOCK_BYTES))
    urls = [root + s.path for s in manifest.shards]

    def one(u):
        return RemoteDatabase(u, storage_options=storage_options, access="random" if access == "normal" else access,
                              **options)

    with ThreadPoolExecutor(min(OPEN_THREADS, n)) as pool:
        shards = list(pool.map(one, urls))
    for s, entry, u in zip(shards, manifest.shards, urls):
        if entry.commit is not None and s.commit_seq != entry.commit:
            raise CorruptFieldError(manifest_url, None, f"shard {entry.path} at commit {entry.commit}",
                                    f"commit {s.commit_seq} ({u} changed since the manifest was written; write "
                                    f"the manifest again, or read the shards at their newest commits)")
    _check_counts(manifest, shards)
    return ShardedDatabase(shards, url, shard_paths=urls, reopen=reopen)


def _check_counts(manifest: Manifest, shards: list) -> None:
    """Every shard holds the episodes and frames its manifest entry says (a stale or forged manifest is refused)."""
    for entry, db in zip(manifest.shards, shards):
        found = (db.num_episodes(), db.num_frames())
        if found != (entry.episodes, entry.frames):
            raise CorruptFieldError(manifest.where, None, f"shard {entry.path}: {entry.episodes} episodes, "
                                    f"{entry.frames} frames", f"{found[0]} episodes, {found[1]} frames")
