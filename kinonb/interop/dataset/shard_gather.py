"""Window batches of plain keys across shards in one compiled call per key (:mod:`kinonb.kernels.gather_shards`).

A plain key is one a frame-sample index gathers straight from the file: low-dim, one width in the whole
dataset, not a stream. When every key of a :class:`~kinonb.interop.dataset.ShardedSampleIndex` is plain and
its shards agree on each key's dtype and row size, a batch costs what it costs in one file, however many shards
its samples come from, instead of one read per shard. Every offset was checked by the shards' own indexes.
"""

from __future__ import annotations

import numpy as np

from ...errors import PositionError
from ...kernels.gather_shards import buffer_list, gather_shards
from ...sampling.index import as_sample_ids, locate_samples
from ...sampling.outputs import output_array


class _PlainKey:
    def __init__(self, name: str, own: list):
        first = own[0]
        self.name, self.dtype, self.shape, self.offsets = name, first.column.dtype, first.shape, first.offsets
        self.row_elems = first.row_elems
        self.flats = buffer_list([k.flat for k in own])
        self.ep_start = np.concatenate([k.ep_start for k in own]).astype(np.int64)
        self.ep_len = np.concatenate([k.ep_len for k in own]).astype(np.int64)


class ShardGather:
    """The plain-key read of a sharded index; :meth:`build` says whether its keys allow it."""

    def __init__(self, parts: list, names: list):
        indexes = [ix for _, ix, _ in parts]
        slots = np.array([len(ix.episodes) for ix in indexes], np.int64)
        slot_base = np.concatenate([[0], np.cumsum(slots)[:-1]]).astype(np.int64)
        self.ep_buf = np.repeat(np.arange(len(indexes), dtype=np.int64), slots)
        self.slot = np.concatenate([ix.sample_slots + b for ix, b in zip(indexes, slot_base)]).astype(np.int64)
        self.frame = np.concatenate([ix.sample_frames for ix in indexes]).astype(np.int64)
        self.episode = np.concatenate([ix.episodes + base for _, ix, base in parts]).astype(np.int64)
        self.keys = {n: _PlainKey(n, [ix.keys[n] for ix in indexes]) for n in names}

    @classmethod
    def build(cls, parts: list, names: list, rate) -> "ShardGather | None":
        """A ShardGather when every key is plain in every shard, with one dtype and row size; else None."""
        if rate is not None or not parts or any(ix.fetches for _, ix, _ in parts):
            return None  # grid samples, or remote shards (their bytes come through their own reads)
        for name in names:
            own = [ix.keys[name] for _, ix, _ in parts]
            if any(k.is_camera or k.is_stream or k.padded for k in own):
                return None
            if len({(k.column.dtype, k.row_elems, k.shape) for k in own}) > 1:
                return None
        return cls(parts, names)

    def read(self, sample_ids, names: list, out: dict) -> dict:
        """Samples ``sample_ids`` of keys ``names``: the batch a one-file index returns."""
        ids = as_sample_ids(sample_ids)
        b = len(ids)
        sample_ep, sample_t = np.empty(b, np.int64), np.empty(b, np.int64)
        bad = locate_samples(ids, self.slot, self.frame, sample_ep, sample_t)  # and checks every id, in one pass
        if bad >= 0:
            raise PositionError(f"sample_ids must lie in [0, {len(self.slot)}), found {ids[bad]} at position {bad}")
        batch = {}
        for name in names:
            key = self.keys[name]
            w = len(key.offsets)
            result = output_array(out.get(name), (b, w, *key.shape), key.dtype, f"out[{name!r}]")
            is_pad = np.empty((b, w), np.bool_)
            gather_shards(key.flats, self.ep_buf, key.ep_start, key.ep_len, key.row_elems, sample_ep, sample_t,
                          key.offsets, result.reshape(b, w, key.row_elems), is_pad)
            batch[name], batch[f"{name}_is_pad"] = result, is_pad
        batch["episode"] = self.episode[sample_ep]
        batch["frame"] = sample_t
        return batch
