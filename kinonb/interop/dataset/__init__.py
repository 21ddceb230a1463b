"""Sharded datasets: a folder (or object-storage prefix) of ``.knb`` shards with a manifest, read as one
(:func:`open_dataset`, :class:`ShardedDatabase`, :class:`ShardedSampleIndex`; the manifest: :mod:`.manifest`)."""

from .manifest import MANIFEST_NAME, is_dataset_location, shard_files, write_manifest
from .opening import open_dataset
from .sample_index import ShardedSampleIndex
from .sharded import ShardedDatabase

__all__ = ["open_dataset", "write_manifest", "shard_files", "is_dataset_location", "ShardedDatabase",
           "ShardedSampleIndex", "MANIFEST_NAME"]
