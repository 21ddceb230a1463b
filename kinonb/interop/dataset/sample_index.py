"""``ShardedSampleIndex``: one :class:`~kinonb.sampling.SampleIndex` per shard, seen as one sample space.

Sample ids run through shard 0's samples, then shard 1's, and so on, so a dataset of shards has exactly the
samples, in the same order, that one file holding its episodes in dataset order would have. ``read`` sends each
shard its own ids (one batched read per shard present in the batch) and merges the parts back into the
caller's order (:func:`kinonb.sampling.merge.merge_parts`); ``episode`` comes as dataset positions.

Keys of mixed widths behave as in one file: when the key's width differs anywhere in the dataset (between
shards, or within one), every batch is padded to its widest sample with ``{key}_dim_mask``; ``pad_dims=False``
refuses it; ``pad_dims={key: width}`` pads every shard to that width.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass

import numpy as np

from ...errors import InvalidArgumentError, PositionError
from ...sampling.index import episode_positions
from ...sampling.merge import merge_parts
from ...sampling.outputs import output_array
from ...sampling.widths import Widths
from .shard_gather import ShardGather


@dataclass(frozen=True)
class DatasetKey:
    """What the torch layer asks of a key of an index (the same members as a shard's own key)."""

    name: str
    column: object
    is_camera: bool
    is_stream: bool
    padded: bool
    shape: tuple
    offsets: np.ndarray
    widths: Widths | None


class ShardedSampleIndex:
    """Use :meth:`kinonb.interop.dataset.ShardedDatabase.sample_index`."""

    def __init__(self, dataset, windows: dict, *, episodes=None, pad_dims=None, **options):
        self.db = dataset
        offsets = dataset.shard_offsets
        eps = episode_positions(episodes, dataset.num_episodes())
        shard_of = np.searchsorted(offsets, eps, side="right") - 1
        self._parts = []  # (shard number, its index, episode offset)
        for s in _in_order(shard_of):
            local = eps[shard_of == s] - offsets[s]
            index = dataset.shards[s].sample_index(windows, episodes=local, pad_dims=pad_dims, **options)
            self._parts.append((int(s), index, int(offsets[s])))
        self._sizes = np.array([len(ix) for _, ix, _ in self._parts], np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)]).astype(np.int64)
        self.keys = self._keys(list(windows), pad_dims)
        self.rate = options.get("rate")
        self.pad = options.get("pad", "edge")
        self._gather = ShardGather.build(self._parts, list(windows), self.rate)

    def _keys(self, names: list, pad_dims) -> dict:
        if not self._parts:
            return {}
        keys = {}
        for name in names:
            own = [ix.keys[name] for _, ix, _ in self._parts]
            first = own[0]
            if first.is_camera:
                keys[name] = DatasetKey(name, first.column, True, first.is_stream, False, first.shape, first.offsets,
                                        None)
                continue
            dims = np.concatenate([k.widths.dims for k in own])
            padded = any(k.padded for k in own) or len(np.unique(dims)) > 1
            if padded and pad_dims is False:
                raise InvalidArgumentError(f"key {name!r} has widths {np.unique(dims).tolist()} across the shards "
                                           f"(last axis); pad_dims=False refuses to pad: pass pad_dims=None or "
                                           f"{{{name!r}: {int(dims.max())}}}")
            w = first.widths
            widths = Widths(w.shape, w.lead, dims, w.width, padded)
            # shards that store the key in other dtypes are read as the type that holds them all
            column = dataclasses.replace(first.column, dtype=np.result_type(*(k.column.dtype for k in own)))
            keys[name] = DatasetKey(name, column, False, first.is_stream, padded, first.shape, first.offsets, widths)
        return keys

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def shard_indexes(self) -> list:
        """``[(shard number, its SampleIndex)]`` for the shards that have samples here, in dataset order."""
        return [(s, ix) for s, ix, _ in self._parts]

    def _concat(self, attr: str, shift: bool) -> np.ndarray:
        arrays = [getattr(ix, attr) + (base if shift else 0) for _, ix, base in self._parts]
        return np.concatenate(arrays).astype(np.int64) if arrays else np.zeros(0, np.int64)

    @property
    def episodes(self) -> np.ndarray:
        return self._concat("episodes", True)

    @property
    def skipped_episodes(self) -> np.ndarray:
        return self._concat("skipped_episodes", True)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped_episodes)

    @property
    def sample_episodes(self) -> np.ndarray:
        """Dataset position of every sample's episode."""
        return self._concat("sample_episodes", True)

    @property
    def sample_frames(self) -> np.ndarray:
        return self._concat("sample_frames", False)

    @property
    def sample_times(self):
        times = [ix.sample_times for _, ix, _ in self._parts]
        return None if not times or times[0] is None else np.concatenate(times)

    def locate(self, i: int) -> tuple[int, int]:
        """(dataset episode position, frame t) of sample ``i``."""
        n = len(self)
        j = operator.index(i)
        if not -n <= j < n:
            raise PositionError(f"sample {i} out of range for {n} samples")
        j %= n
        part = int(np.searchsorted(self._starts, j, side="right") - 1)
        _, index, base = self._parts[part]
        ep, t = index.locate(j - int(self._starts[part]))
        return ep + base, t

    def prefetch(self) -> int:
        return sum(ix.prefetch() for _, ix, _ in self._parts)

    def read(self, sample_ids, *, out: dict | None = None, keys=None, **options) -> dict:
        """As :meth:`kinonb.SampleIndex.read` (the same options), ``episode`` as dataset positions: in one
        compiled call per key when every key is plain (:mod:`.shard_gather`), else one read per shard present."""
        if self._gather is not None and keys is None:  # the hot path: every key, checks in the gather
            return self._gather.read(sample_ids, list(self.keys), out or {})
        ids = np.asarray(sample_ids)
        ids = ids.reshape(1) if ids.ndim == 0 else ids
        if ids.ndim != 1 or not (ids.dtype.kind in "iu" or ids.size == 0):
            raise InvalidArgumentError(f"sample_ids must be a 1-D array of ints, got {ids.dtype} {ids.shape}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = int(np.flatnonzero((ids < 0) | (ids >= len(self)))[0])
            raise PositionError(f"sample_ids must lie in [0, {len(self)}), found {ids[bad]} at position {bad}")
        names = list(self.keys) if keys is None else list(keys)
        for k in names:
            if k not in self.keys:
                raise InvalidArgumentError(f"keys: {k!r} is not a key of this index ({list(self.keys)})")
        if not self._parts:
            raise InvalidArgumentError("this index has no samples to read")
        if self._gather is not None:
            return self._gather.read(ids, names, out or {})
        options["keys"] = keys
        part_of = np.searchsorted(self._starts, ids, side="right") - 1
        present = np.unique(part_of).tolist() if ids.size else [0]  # no ids: an empty batch of the first shard's shapes
        parts, rows = [], []
        for p in present:
            sel = np.flatnonzero(part_of == p)
            _, index, base = self._parts[p]
            given = out if len(present) == 1 else None  # one shard: its reader fills the caller's arrays
            batch = index.read(ids[sel] - self._starts[p], out=given, **options)
            batch["episode"] = batch["episode"] + base
            parts.append(batch)
            rows.append(sel)
        dims = {k: max(p[k].shape[-1] for p in parts) for k, key in self.keys.items() if key.padded}
        batch = merge_parts(parts, rows, dims)
        for name, given in (out or {}).items() if len(parts) > 1 else ():  # the caller's arrays, filled
            if name in batch:
                output_array(given, batch[name].shape, batch[name].dtype, f"out[{name!r}]")[...] = batch[name]
                batch[name] = given
        return batch


def _in_order(shard_of: np.ndarray) -> list[int]:
    """The shards of ``shard_of`` in order of first appearance (the episodes' order decides the samples'); each
    shard's episodes must come together."""
    if not len(shard_of):
        return []
    runs = shard_of[np.r_[0, np.flatnonzero(np.diff(shard_of)) + 1]]
    if len(np.unique(runs)) != len(runs):
        raise InvalidArgumentError("episodes: a shard's episodes must come together (sort the positions, or "
                                   "keep each shard's episodes consecutive)")
    return runs.tolist()
