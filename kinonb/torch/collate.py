"""Collation: hand a batch the dataset already assembled to the loop as is; ``pad_collate`` for mixed dims.

A map dataset's ``__getitems__`` reads a whole batch with one kernel call per key, then returns it as
:class:`Rows`, a sequence of sample views over that batch. The DataLoader passes the sequence to its
``collate_fn``. ``default_collate`` (through the type registry it documents for extension,
``torch.utils.data._utils.collate.default_collate_fn_map``, to which this module adds :class:`Row`) and
:func:`pad_collate` recognise it and return the batch without copying it again. Any other collate function
sees ordinary mapping rows and works as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data._utils.collate import (
    collate,
    default_collate,
    default_collate_fn_map,
)

from ..errors import InvalidArgumentError, PositionError
from .convert import dim_mask, pad_dim, strings, to_tensor


class Row(Mapping):
    """Sample ``i`` of an assembled batch, as a read-only mapping (values are views into the batch)."""

    __slots__ = ("_batch", "_i")

    def __init__(self, batch: dict, i: int):
        self._batch = batch
        self._i = i

    def __getitem__(self, key):
        return self._batch[key][self._i]

    def __iter__(self):
        return iter(self._batch)

    def __len__(self):
        return len(self._batch)


class Rows(Sequence):
    """A batch dict seen as a sequence of :class:`Row` (what ``__getitems__`` returns)."""

    __slots__ = ("batch", "_n")

    def __init__(self, batch: dict, n: int):
        self.batch = batch
        self._n = n

    def __len__(self):
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [Row(self.batch, j) for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise PositionError(f"row {i} out of range for a batch of {self._n}")
        return Row(self.batch, i % self._n)


def _collate_rows(batch, *, collate_fn_map=None):
    """default_collate's entry for :class:`Row`: a whole :class:`Rows` is the batch already."""
    if isinstance(batch, Rows):
        return batch.batch
    return collate([dict(r) for r in batch], collate_fn_map=collate_fn_map)


default_collate_fn_map[Row] = _collate_rows


def pad_collate(batch, *, dims: dict | None = None):
    """Collate samples whose arrays may differ in their last axis (mixtures of robots with other dims).

    Every key whose samples differ only in the last axis, and every key named in ``dims`` (``{key: width}``,
    e.g. ``MixtureDataset.pad_dims``, for the same width in every batch), is zero-padded on that axis to the
    widest sample (or ``dims[key]``) and gets ``{key}_dim_mask``, bool ``(B, width)``, True on real entries.
    Other keys are collated as ``default_collate`` does, except that strings and Python bools / None
    (kinodb's ``success``) become a numpy object array, as in every batch kinonb assembles. A batch already
    assembled by a kinonb dataset (:class:`Rows`, or a dict from an iterable dataset with ``batch_size``) is
    returned as is, padded to ``dims`` where given.
    """
    dims = dict(dims or {})
    if isinstance(batch, Rows):
        return _pad_batch(batch.batch, dims)
    if isinstance(batch, Mapping):
        return _pad_batch(dict(batch), dims)
    samples = [dict(s) for s in batch]
    if not samples:
        return {}
    out = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        first = values[0]
        if isinstance(first, (np.ndarray, torch.Tensor)):
            values = [to_tensor(v) for v in values]
            if len({tuple(v.shape[:-1]) for v in values}) > 1 or len({v.ndim for v in values}) > 1:
                raise InvalidArgumentError(f"pad_collate: samples of {key!r} differ in more than their last axis "
                                 f"({sorted({tuple(v.shape) for v in values})}); whole episodes of different "
                                 f"lengths need batch_size=1 (or windows)")
            if key in dims or len({tuple(v.shape) for v in values}) > 1:
                width = max(dims.get(key, 0), *(v.shape[-1] for v in values))
                out[key] = torch.stack([pad_dim(v, width) for v in values])
                out[f"{key}_dim_mask"] = dim_mask([v.shape[-1] for v in values], width, as_tensor=True)
            else:
                out[key] = torch.stack(values)
        elif all(v is None or isinstance(v, (str, bool)) for v in values):
            out[key] = strings(values)  # str, and flags that may be unknown (kinodb's success: bool or None)
        else:
            out[key] = default_collate(values)
    return out


def _pad_batch(batch: dict, dims: dict) -> dict:
    """An assembled batch padded to ``dims`` (keys it already has at that width keep their mask)."""
    for key, width in dims.items():
        value = batch.get(key)
        if value is None:
            continue
        mask = batch.get(f"{key}_dim_mask")
        if mask is None:
            mask = dim_mask(np.full(len(value), value.shape[-1]), value.shape[-1], isinstance(value, torch.Tensor))
        batch[key] = pad_dim(value, width)
        batch[f"{key}_dim_mask"] = pad_dim(mask, width)
    return batch


__all__ = ["pad_collate", "Rows", "Row"]
