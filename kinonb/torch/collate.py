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
from torch.utils.data import get_worker_info
from torch.utils.data._utils.collate import (
    collate,
    default_collate,
    default_collate_fn_map,
)

from ..errors import InvalidArgumentError, PositionError
from .shared_batch import SharedBatch
from .convert import (
    Batch,
    EpisodeSample,
    MixtureRow,
    dim_mask,
    pad_dim,
    strings,
    to_tensor,
)


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
    """default_collate's entry for :class:`Row`: a whole :class:`Rows` is the batch already (in a DataLoader
    worker a :class:`SharedBatch`, sent back as one shared block)."""
    if isinstance(batch, Rows):
        return SharedBatch(batch.batch) if get_worker_info() is not None else batch.batch
    return collate([dict(r) for r in batch], collate_fn_map=collate_fn_map)


default_collate_fn_map[Row] = _collate_rows


def collate_episodes(samples, *, dims: dict | None = None) -> dict:
    """Whole episodes (kinodb's samples) of different lengths as one batch, with the default collate.

    Every per-frame array (``action``, ``state``, ``reward``, ``image``) is padded on its time axis to the
    longest episode of the batch by repeating the episode's last frame (as windows do with ``pad="edge"``), and
    ``{key}_is_pad`` (bool ``(B, T)``) is True on those padded frames. A low-dim key whose last axis differs
    between samples (a mixture of robots), or that ``dims`` names, is zero-padded on that axis with
    ``{key}_dim_mask``. ``success`` becomes bool values (False where unknown) plus ``success_known``; strings
    become 1-D numpy arrays of ``str``; numbers become tensors.
    """
    samples = [dict(s) for s in samples]
    dims = dict(dims or {})
    lengths = [len(s["action"]) for s in samples]
    out = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], (np.ndarray, torch.Tensor)):
            out.update(_frames_batch(key, [to_tensor(v) for v in values], lengths, dims.get(key)))
        elif key == "success":
            out["success"] = torch.tensor([bool(v) for v in values])
            out["success_known"] = torch.tensor([v is not None for v in values])
        elif all(isinstance(v, str) for v in values):
            out[key] = strings(values)
        else:
            out[key] = default_collate(values)
    return out


def _frames_batch(key: str, values: list, lengths: list, width: int | None) -> dict:
    """``(B, T_max, ...)`` with the last frame repeated, ``{key}_is_pad``, and ``{key}_dim_mask`` when padded."""
    t_max = max(lengths)
    widths = {v.shape[-1] for v in values if v.ndim >= 2}
    trailing = {tuple(v.shape[1:-1]) for v in values}
    out = {}
    if values[0].ndim >= 2 and (len(widths) > 1 or width is not None):
        if len(trailing) > 1:
            raise InvalidArgumentError(f"samples of {key!r} differ in more than their last axis and length: "
                                       f"{sorted({tuple(v.shape) for v in values})}")
        full = max(width or 0, *widths)
        out[f"{key}_dim_mask"] = dim_mask([v.shape[-1] for v in values], full, as_tensor=True)
        values = [pad_dim(v, full) for v in values]
    shapes = {tuple(v.shape[1:]) for v in values}
    if len(shapes) > 1:
        raise InvalidArgumentError(f"samples of {key!r} have frames of different shapes {sorted(shapes)}; "
                                   f"set image_size so that every camera is resized alike")
    batch = values[0].new_empty((len(values), t_max, *values[0].shape[1:]))
    for b, v in enumerate(values):
        batch[b, : len(v)] = v
        batch[b, len(v):] = v[-1]
    out[key] = batch
    out[f"{key}_is_pad"] = torch.arange(t_max)[None, :] >= torch.tensor(lengths)[:, None]
    return out


def _refuse_batches(batch, *, collate_fn_map=None):
    n = len(next(iter(batch[0].values()))) if batch and batch[0] else 0
    raise InvalidArgumentError(
        f"the dataset yields whole batches (KinoIterDataset(batch_size={n})), and the DataLoader was asked to "
        f"batch them again: pass DataLoader(dataset, batch_size=None)")


default_collate_fn_map[EpisodeSample] = lambda batch, *, collate_fn_map=None: collate_episodes(batch)
default_collate_fn_map[Batch] = _refuse_batches
default_collate_fn_map[MixtureRow] = lambda batch, *, collate_fn_map=None: pad_collate(batch, dims=batch[0].widths)


def pad_collate(batch, *, dims: dict | None = None):
    """Collate samples whose arrays may differ in their last axis (mixtures of robots with other dims).

    Every key whose samples differ only in the last axis, and every key named in ``dims`` (``{key: width}``,
    e.g. ``MixtureDataset.pad_dims``, for the same width in every batch), is zero-padded on that axis to the
    widest sample (or ``dims[key]``) and gets ``{key}_dim_mask``, bool ``(B, width)``, True on real entries
    (a sample that brings its own ``{key}_dim_mask``, read from a file of mixed widths, keeps it, padded).
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
    if batch and isinstance(batch[0], EpisodeSample):
        return collate_episodes(batch, dims=dims)
    samples = [dict(s) for s in batch]
    if not samples:
        return {}
    out = {}
    for key in samples[0]:
        if key.endswith("_dim_mask") and key[: -len("_dim_mask")] in samples[0]:
            continue  # a sample's own mask (mixed widths within a file): padded with its key below
        values = [s[key] for s in samples]
        first = values[0]
        if isinstance(first, (np.ndarray, torch.Tensor)):
            values = [to_tensor(v) for v in values]
            if len({tuple(v.shape[:-1]) for v in values}) > 1 or len({v.ndim for v in values}) > 1:
                raise InvalidArgumentError(f"pad_collate: samples of {key!r} differ in more than their last axis "
                                           f"({sorted({tuple(v.shape) for v in values})})")
            own = f"{key}_dim_mask" in samples[0]
            if key in dims or own or len({tuple(v.shape) for v in values}) > 1:
                width = max(dims.get(key, 0), *(v.shape[-1] for v in values))
                out[key] = torch.stack([pad_dim(v, width) for v in values])
                out[f"{key}_dim_mask"] = (torch.stack([pad_dim(to_tensor(s[f"{key}_dim_mask"]), width) for s in samples])
                                          if own else dim_mask([v.shape[-1] for v in values], width, as_tensor=True))
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


__all__ = ["collate_episodes", "pad_collate", "Rows", "Row"]
