"""``KinoIterDataset``: a stream of samples, or of whole batches, split across DDP ranks and DataLoader workers.

The order of an epoch is a function of ``(seed, epoch)`` (:mod:`kinonb.sampling.order`), the same on every
rank; rank ``r`` reads its share of it (its *rank stream*); workers take consecutive blocks of the rank stream
in turn, so the DataLoader hands out the rank stream in order with any number of workers.

Resume. ``state_dict(samples_consumed=None)`` records the epoch and the position in this rank's stream that
the training loop has reached; ``load_state_dict`` makes every later pass over that epoch start there, so
the samples before the save followed by the samples after the restore are exactly one uninterrupted epoch.
Without workers the dataset counts what it has handed out itself. With workers the dataset in the main
process never sees the samples (its copies in the workers do), so pass ``samples_consumed``: the number of
samples the loop has taken from the current pass of the DataLoader (e.g. ``steps_this_pass * batch_size``).
The epoch and start position live in a small shared-memory tensor, so ``set_epoch`` and ``load_state_dict``
reach persistent workers too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from torch.utils.data import IterableDataset

from ..errors import ArgumentTypeError, InvalidArgumentError
from ..sampling import order
from ..sampling.mixture import check_weights, schedule
from . import convert, sharding
from .collate import pad_collate
from .map_dataset import Source
from .options import SampleOptions

STATE_FORMAT = "kinonb.torch.iter/1"
READ_AHEAD = 64  # samples read per kernel call when yielding single samples


def _filters(db_paths, kql_filter, kql_filters) -> list:
    """One KQL filter (or None) per source of a mixture: ``kql_filters`` as ``{path: kql}`` or a list in the
    order of ``db_paths``; ``kql_filter`` for the sources it does not name."""
    if isinstance(kql_filters, (list, tuple)):  # one per source, in the order of db_paths
        if len(kql_filters) != len(db_paths):
            raise InvalidArgumentError(f"kql_filters has {len(kql_filters)} entries for {len(db_paths)} sources")
        kql_filters = dict(zip(db_paths, kql_filters))
    kql_filters = dict(kql_filters or {})
    unknown = set(kql_filters) - set(db_paths)
    if unknown:
        raise InvalidArgumentError(f"kql_filters names paths that are not sources: {sorted(map(str, unknown))}")
    return [kql_filters.get(path, kql_filter) for path in db_paths]


def _sources(db_paths, kql_filter, kql_filters):
    """[(name, path, weight, kql)] and whether the dataset is a mixture (given as {path: weight})."""
    if isinstance(db_paths, (str, os.PathLike)):
        if kql_filters:
            raise InvalidArgumentError("kql_filters ({path: kql}) applies to mixtures; use kql_filter for one file")
        return [(str(db_paths), db_paths, 1.0, kql_filter)], False
    if not isinstance(db_paths, Mapping) or not db_paths:
        raise ArgumentTypeError(f"db_paths must be a path or a non-empty dict {{path: weight}}, got {type(db_paths).__name__}")
    kqls = _filters(db_paths, kql_filter, kql_filters)
    weights = check_weights(db_paths.values(), list(db_paths))
    return [(str(p), p, float(w), kql) for p, w, kql in zip(db_paths, weights, kqls)], True


class KinoIterDataset(IterableDataset):
    """Iterate one file (``db_paths`` a path) or a weighted mixture (``{path: weight}``, see
    :func:`kinonb.torch.from_mixture`) in an order fixed by ``(seed, epoch)``.

    Samples are whole episodes (``windows=None``, kinodb's keys) or windowed frames (``windows={...}``), with the
    options of :class:`~kinonb.torch.KinoMapDataset` (``pad_dims``, ``missing``, ``rate``, ``max_staleness``,
    ``dtype`` and ``episode_arrays`` included). ``batch_size=B`` yields whole batches, each assembled by
    one compiled call per key inside the worker (use ``DataLoader(ds, batch_size=None)``); ``drop_last`` drops
    the last ``n % B`` samples of the rank stream. Without ``batch_size`` it yields single samples; workers
    then take blocks of ``block_size`` samples in turn (set it to the DataLoader's batch size and each
    DataLoader batch is one block, in stream order).

    A path may be a sharded dataset folder or URL prefix (:func:`kinonb.open_dataset`) or a remote file;
    ``storage_options`` go to fsspec for URLs (credentials, endpoint).

    Ranks come from ``torch.distributed`` when initialised, else ``rank`` / ``world_size``, else the
    ``RANK`` / ``WORLD_SIZE`` environment variables, else a single process. ``equalize`` makes every rank's
    count equal: ``"wrap"`` (default) repeats the first few samples of the order, ``"drop"`` leaves out the
    last ``N % world_size``. The epoch changes only through :meth:`set_epoch` (as with ``DistributedSampler``);
    iterating again without it replays the same order.
    """

    def __init__(self, db_paths, kql_filter=None, image_key=None, image_size=None, shuffle=True, seed=42,
                 to_tensor=True, *, windows=None, actions_only=False, pad="edge", pad_before=None, pad_after=None,
                 resize_mode="nearest", layout="CHW", normalize=True, batch_size=None, drop_last=False,
                 block_size=1, rank=None, world_size=None, equalize="wrap", kql_filters=None, replacement=True,
                 num_samples=None, pad_dims=None, missing="error", rate=None, max_staleness=None,
                 dtype=torch.float32, episode_arrays=(), commit=None, storage_options=None):
        specs, self.is_mixture = _sources(db_paths, kql_filter, kql_filters)
        if commit is not None and len(specs) != 1:
            raise InvalidArgumentError("commit= pins a commit of one file; a mixture's files each have their own")
        image = convert.ImageFormat(image_size, resize_mode, layout, bool(normalize))
        options = SampleOptions(pad_dims, missing, rate, max_staleness, dtype, episode_arrays)
        self.sources = [Source(path, name=name, kql_filter=kql, windows=windows, pad=pad, pad_before=pad_before,
                               pad_after=pad_after, image_key=image_key, image=image, actions_only=actions_only,
                               options=options, commit=commit, storage_options=storage_options)
                        for name, path, _, kql in specs]
        self.weights = np.array([w for _, _, w, _ in specs], np.float64)
        self.shuffle = bool(shuffle)
        self.seed = order.check_int("seed", seed)
        self.to_tensor = bool(to_tensor)
        if batch_size is not None:
            batch_size = order.check_int("batch_size", batch_size, 1)
            if windows is None:
                raise InvalidArgumentError("batch_size (batches assembled in the worker) needs windows: whole episodes "
                                 "differ in length; batch them with the DataLoader and a collate_fn instead")
        if drop_last and batch_size is None:
            raise InvalidArgumentError("drop_last applies to batches assembled here (batch_size=); for DataLoader batches "
                             "use DataLoader(drop_last=True)")
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.block_size = order.check_int("block_size", block_size, 1)
        if equalize not in order.EQUALIZE:
            raise InvalidArgumentError(f"equalize must be one of {order.EQUALIZE}, got {equalize!r}")
        self.equalize = equalize
        self.rank, self.world_size = sharding.resolve_world(rank, world_size)
        self.replacement = bool(replacement)
        self.num_samples = None if num_samples is None else order.check_int("num_samples", num_samples)
        if not self.is_mixture and num_samples is not None:
            raise InvalidArgumentError("num_samples applies to mixtures ({path: weight}); one file's epoch is all its samples")
        # [epoch, ids read by all ranks before the split (a resume at another world size), start position in
        # the rank stream]: shared with (persistent) workers.
        self._shared = torch.zeros(3, dtype=torch.int64).share_memory_()
        self._consumed = 0  # samples handed out by the current pass in this process
        self._cache = None  # (epoch, rank stream)
        self._pad_dims = None
        if not self.is_mixture:
            self.sources[0].require_samples()

    # -- the order -------------------------------------------------------------------------------------------
    def _sizes(self) -> np.ndarray:
        return np.array([len(s) for s in self.sources], np.int64)

    def _order(self, epoch: int) -> np.ndarray:
        """Global sample ids of one epoch (source ``s``'s sample ``j`` is ``offset[s] + j``)."""
        sizes = self._sizes()
        if not self.is_mixture:
            return order.permutation(int(sizes[0]), self.seed, epoch, self.shuffle)
        return schedule(sizes, self.weights, self.seed, epoch, replacement=self.replacement,
                        num_samples=self.num_samples, shuffle=self.shuffle, names=[s.name for s in self.sources])

    def _stream(self, epoch: int, skip: int = 0) -> np.ndarray:
        """This rank's ids for ``epoch`` after the first ``skip`` ids of its order, cut to whole batches when
        ``drop_last``."""
        if self._cache is None or self._cache[:2] != (epoch, skip):
            ids = self._order(epoch)
            stream = order.rank_stream(ids, self.rank, self.world_size, self.equalize, skip)
            if self.batch_size and self.drop_last:
                stream = stream[: len(stream) - len(stream) % self.batch_size]
            self._cache = (epoch, skip, stream, len(ids))
        return self._cache[2]

    def _sizes_at(self, epoch: int, skip: int) -> tuple[int, int]:
        """(ids in ``epoch``'s order, this rank's stream length after ``skip``)."""
        stream = self._stream(epoch, skip)
        return self._cache[3], len(stream)

    @property
    def epoch(self) -> int:
        return int(self._shared[0])

    def num_samples_per_rank(self) -> int:
        """Samples this rank reads in one epoch (the same on every rank)."""
        return len(self._stream(self.epoch, int(self._shared[1])))

    def __len__(self) -> int:
        n = self.num_samples_per_rank()
        return -(-n // self.batch_size) if self.batch_size else n

    # -- epochs and resume -----------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order from the next pass on (a restored position is kept for its own epoch)."""
        epoch = order.check_int("epoch", epoch)
        if epoch != int(self._shared[0]):
            self._shared[0] = epoch
            self._shared[1] = self._shared[2] = 0

    def state_dict(self, samples_consumed: int | None = None) -> dict:
        """Where this rank stands: ``{"epoch", "samples_consumed", ...}``.

        ``samples_consumed``: samples the loop took from the current pass; None counts what this process handed
        out itself (right with ``num_workers=0``; with workers, pass it). ``samples_consumed`` in the result is
        the position in this rank's epoch stream, counting samples consumed before an earlier restore;
        ``consumed_all_ranks`` the ids of the epoch's order that all ranks have read together, what a resume at
        another world size starts from (:func:`kinonb.sampling.order.resume_point`).
        """
        epoch, skip, start = (int(v) for v in self._shared)
        total, n = self._sizes_at(epoch, skip)
        taken = self._consumed if samples_consumed is None else order.check_int("samples_consumed", samples_consumed)
        if start + taken > n:
            raise InvalidArgumentError(f"samples_consumed={taken} from position {start} runs past this rank's {n} samples")
        return {"format": STATE_FORMAT, "seed": self.seed, "epoch": epoch, "samples_consumed": start + taken,
                "num_samples": n, "skip": skip, "epoch_samples": total,
                "consumed_all_ranks": order.consumed_over_ranks(skip, start + taken, self.world_size, total),
                "rank": self.rank, "world_size": self.world_size, "sources": [s.name for s in self.sources]}

    def load_state_dict(self, state: dict) -> None:
        """Resume: every later pass over ``state["epoch"]`` starts where ``state`` stood; at another world size
        (a state saved at 4 ranks loaded at 2) the new ranks split what the old ones had not read."""
        mine = {"seed": self.seed, "num_sources": len(self.sources)}
        if isinstance(state, Mapping):
            state = {**state, "num_sources": len(state.get("sources", ()))}
        at = order.resume_point(state, STATE_FORMAT, mine, self.world_size, self._sizes_at, "dataset",
                                "seed and sources", "the files, filters, windows, mixture or batching")
        self._shared[0], self._shared[1], self._shared[2] = at.epoch, at.skip, at.start
        self._consumed = 0

    # -- iteration -------------------------------------------------------------------------------------------
    def __iter__(self):
        epoch, skip, start = (int(v) for v in self._shared)
        stream = self._stream(epoch, skip)
        worker_id, num_workers = sharding.worker()
        pos = order.worker_positions(len(stream), min(start, len(stream)), self.batch_size or self.block_size,
                                     worker_id, num_workers)
        ids = stream[pos]
        self._consumed = 0
        if self.batch_size:
            return self._batches(ids)
        return self._samples(ids)

    def _batches(self, ids):
        for at in range(0, len(ids), self.batch_size):
            chunk = ids[at : at + self.batch_size]
            batch = self._batch(chunk)
            self._consumed += len(chunk)
            yield batch

    def _samples(self, ids):
        step = READ_AHEAD if self.sources[0].windowed else 1
        for at in range(0, len(ids), step):
            for sample in self._rows(ids[at : at + step]):
                self._consumed += 1
                yield sample

    def _locate(self, ids: np.ndarray):
        """(source, sample id within the source) of global ids."""
        offsets = np.concatenate([[0], np.cumsum(self._sizes())[:-1]]).astype(np.int64)
        src = np.searchsorted(offsets, ids, side="right") - 1
        return src, ids - offsets[src]

    def _parts(self, ids: np.ndarray):
        """Read ``ids`` with one read per source present: [(part batch, positions in ids)]."""
        if not self.is_mixture:
            return [(self.sources[0].read(ids), np.arange(len(ids)))]
        src, local = self._locate(ids)
        parts = []
        for s in np.unique(src):
            sel = np.flatnonzero(src == s)
            source = self.sources[s]
            part = source.read(local[sel])
            part["source"] = convert.strings([source.name] * len(sel))
            parts.append((part, sel))
        return parts

    def _batch(self, ids: np.ndarray) -> dict:
        """One batch in stream order; in a mixture, keys of :attr:`pad_dims` padded with ``{key}_dim_mask``."""
        parts = self._parts(ids)
        dims = self.pad_dims if self.is_mixture else {}
        batch = convert.merge_parts([p for p, _ in parts], [r for _, r in parts], dims)
        return convert.tensors(convert.Batch(batch), self.to_tensor)

    def _rows(self, ids: np.ndarray) -> list:
        """Single samples in stream order, each at its own source's dims; in a mixture each is a
        :class:`~kinonb.torch.convert.MixtureRow`, which the default collate pads to :attr:`pad_dims`."""
        if not self.sources[0].windowed:
            src, local = self._locate(ids)
            out = []
            for s, j in zip(src.tolist(), local.tolist()):
                sample = self.sources[s].episode(j)
                if self.is_mixture:
                    sample["source"] = self.sources[s].name
                out.append(convert.tensors(sample, self.to_tensor))
            return out
        out = [None] * len(ids)
        for part, sel in self._parts(ids):
            padded = any(k.endswith("_dim_mask") for k in part)  # mixed widths within the file
            part = convert.tensors(part, self.to_tensor)
            for j, i in enumerate(sel.tolist()):
                row = convert.row(part, j)
                out[i] = convert.MixtureRow(row, widths=self.pad_dims) if self.is_mixture or padded else row
        return out

    # -- mixtures of different dims --------------------------------------------------------------------------
    @property
    def pad_dims(self) -> dict:
        """``{key: width}`` for the low-dim keys whose last axis differs between sources (the widest)."""
        if self._pad_dims is None:
            per_source = [s.dims() for s, w in zip(self.sources, self.weights) if w > 0]
            keys = set().union(*per_source) if per_source else set()
            self._pad_dims = {k: max(d.get(k, 0) for d in per_source) for k in sorted(keys)
                              if len({d.get(k) for d in per_source}) > 1}
        return self._pad_dims

    def collate(self, batch):
        """``pad_collate`` to :attr:`pad_dims`: the same widths in every batch (use as ``collate_fn``)."""
        return pad_collate(batch, dims=self.pad_dims)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = None
        return state
