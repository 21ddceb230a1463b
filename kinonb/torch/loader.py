"""``kinonb.torch.Loader``: batches assembled ahead on threads, no worker processes, resumable.

``DataLoader(num_workers=N)`` pays for processes: each worker opens the file, starts its own threads and sends
every batch back through shared memory, one file descriptor per tensor. kinonb's reads release the GIL, so
threads in the training process do the same work with none of that. The Loader draws this rank's ids of each
epoch (the same ``(seed, epoch)`` order and rank split as :class:`~kinonb.torch.KinoIterDataset`), cuts them
into batches and reads them on ``threads`` threads, at least ``prefetch`` batches ahead of the loop (see
:mod:`kinonb.torch.prefetch`). Batches come in order, so a run is the same for any thread count.

Window datasets (``KinoMapDataset(windows=...)``) are read through their batched reader straight into reused
buffers (pinned ones with ``pin_memory``); small low-dim batches are read several at a time, so a read is
long enough for threads to pay. Any other map-style dataset is read with ``__getitems__`` (or ``__getitem__``
per sample) and ``collate_fn``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch.utils.data import IterableDataset, default_collate
from torch.utils.data._utils.pin_memory import pin_memory as pin_batch

from ..errors import ArgumentTypeError, InvalidArgumentError, KinonbWarning
from ..kernels.threads import num_threads
from ..sampling import order
from . import convert, sharding
from .map_dataset import KinoMapDataset
from .prefetch import Slot, SlotPool, ordered

STATE_FORMAT = "kinonb.Loader/1"
LOW_DIM_ROWS = 4096  # samples per read for small low-dim batches: enough to hide a read's fixed Python cost


class Loader:
    """Batches of a map-style dataset, read ahead on threads. See the module docstring.

    ``for batch in Loader(ds, batch_size=256, shuffle=True, seed=0, threads=2): ...``. ``set_epoch(e)`` picks
    epoch ``e``'s order (as with ``DistributedSampler``); ``state_dict()`` / ``load_state_dict()`` resume
    mid-epoch at the next batch. ``rank`` / ``world_size`` default to torch.distributed, then ``RANK`` /
    ``WORLD_SIZE``; ``equalize`` as for KinoIterDataset. ``threads=0`` reads in the calling thread.
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True, seed: int = 42, prefetch: int = 4,
                 threads: int | None = None, pin_memory: bool = False, drop_last: bool = False, *,
                 rank: int | None = None, world_size: int | None = None, equalize: str = "wrap",
                 collate_fn=None):
        if isinstance(dataset, IterableDataset):
            raise ArgumentTypeError(f"Loader reads a map-style dataset; {type(dataset).__name__} is iterable and "
                                    f"batches itself: use DataLoader(dataset, batch_size=None)")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise ArgumentTypeError(f"Loader needs a map-style dataset (__len__ and __getitem__), got "
                                    f"{type(dataset).__name__}")
        if equalize not in order.EQUALIZE:
            raise InvalidArgumentError(f"equalize must be one of {order.EQUALIZE}, got {equalize!r}")
        self.dataset = dataset
        self.batch_size = order.check_int("batch_size", batch_size, 1)
        self.shuffle, self.drop_last, self.equalize = bool(shuffle), bool(drop_last), equalize
        self.seed = order.check_int("seed", seed)
        self.prefetch = order.check_int("prefetch", prefetch, 1)
        self.threads = num_threads() if threads is None else order.check_int("threads", threads)
        self.pin_memory = _pinning(pin_memory)
        self.rank, self.world_size = sharding.resolve_world(rank, world_size)
        windowed = isinstance(dataset, KinoMapDataset) and dataset.source.windowed and collate_fn is None
        self._reads = (_WindowReads(dataset, self.batch_size, self.pin_memory) if windowed
                       else _ItemReads(dataset, collate_fn or default_collate, self.pin_memory))
        # reads in flight at once; the slots kept are those plus the batches the loop may still hold
        self._ahead = max(self.threads, math.ceil(self.prefetch / self._reads.batches_per_read))
        self._reads.pool.keep = self._ahead + 2
        self._epoch, self._skip, self._start, self._cache = 0, 0, 0, None

    # -- the order -------------------------------------------------------------------------------------------
    def _stream(self, epoch: int, skip: int = 0) -> np.ndarray:
        """This rank's ids of ``epoch`` once the ranks have read the first ``skip`` of its order."""
        if self._cache is None or self._cache[:2] != (epoch, skip):
            ids = order.permutation(len(self.dataset), self.seed, epoch, self.shuffle)
            stream = order.rank_stream(ids, self.rank, self.world_size, self.equalize, skip)
            if self.drop_last:
                stream = stream[: len(stream) - len(stream) % self.batch_size]
            self._cache = (epoch, skip, stream)
        return self._cache[2]

    def _sizes_at(self, epoch: int, skip: int) -> tuple[int, int]:
        return len(self.dataset), len(self._stream(epoch, skip))

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Read epoch ``epoch``'s order from the next pass on (iterating again without it replays the order)."""
        epoch = order.check_int("epoch", epoch)
        if epoch != self._epoch:
            self._epoch, self._skip, self._start = epoch, 0, 0

    def __len__(self) -> int:
        """Batches of one whole epoch on this rank."""
        return math.ceil(len(self._stream(self._epoch, self._skip)) / self.batch_size)

    # -- resume ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Where the loop stands: ``{"epoch", "samples_consumed", ...}``; batches handed to the loop count as
        consumed, so a restore starts at the batch after the last one taken. ``consumed_all_ranks``: the ids of
        the epoch's order all ranks have read together, where a resume at another world size starts."""
        total, n = self._sizes_at(self._epoch, self._skip)
        return {"format": STATE_FORMAT, "seed": self.seed, "epoch": self._epoch, "samples_consumed": self._start,
                "num_samples": n, "skip": self._skip, "epoch_samples": total,
                "consumed_all_ranks": order.consumed_over_ranks(self._skip, self._start, self.world_size, total),
                "batch_size": self.batch_size, "rank": self.rank, "world_size": self.world_size,
                "shuffle": self.shuffle}

    def load_state_dict(self, state: dict) -> None:
        """Resume at ``state``: the next pass reads the rest of its epoch, later passes whole epochs. At another
        world size (saved at 4 ranks, loaded at 2) the new ranks split what the old ones had not read."""
        mine = {"seed": self.seed, "shuffle": self.shuffle}
        at = order.resume_point(state, STATE_FORMAT, mine, self.world_size, self._sizes_at, "loader",
                                "seed and shuffle", "the dataset or drop_last")
        self._epoch, self._skip, self._start = at.epoch, at.skip, at.start

    # -- iteration -------------------------------------------------------------------------------------------
    def __iter__(self):
        stream = self._stream(self._epoch, self._skip)
        start, b = self._start, self.batch_size
        rows = b * self._reads.batches_per_read
        cuts = list(range(start, len(stream), rows))

        def job(k: int):
            lo = cuts[k]
            return self._reads.read(stream[lo: min(lo + rows, len(stream))], b)

        position = start
        reads = ordered(job, len(cuts), self.threads, self._ahead)
        try:
            for slot, batches in reads:
                batches.reverse()  # popped from the end: each batch leaves the list as it is handed out
                while batches:
                    batch = batches.pop()
                    position = min(position + b, len(stream))
                    self._start = position
                    yield batch
                    del batch
                self._reads.pool.give(slot)
        finally:
            reads.close()  # a break in the loop stops the threads now, not when the generator is collected
        self._skip = self._start = 0  # a finished pass: the next one reads the whole epoch again


def _pinning(pin_memory: bool) -> bool:
    if not pin_memory:
        return False
    if torch.cuda.is_available():
        return True
    warnings.warn("pin_memory=True, but no accelerator is found; pinned memory is not used", KinonbWarning,
                  stacklevel=3)
    return False


class _WindowReads:
    """Window batches through the dataset's batched reader, into reused (pinned) buffers."""

    def __init__(self, dataset: KinoMapDataset, batch_size: int, pin: bool):
        source = dataset.source
        self.source, self.to_tensor, self.pin = source, dataset.to_tensor, pin
        keys = source._opened().index.keys
        low_dim = not any(key.is_camera for key in keys.values())
        self.batches_per_read = max(1, LOW_DIM_ROWS // batch_size) if low_dim else 1
        self.capacity = self.batches_per_read * batch_size
        self.reusable = source.reusable_keys()
        self.layout: dict | None = None  # name -> (per-sample shape, dtype), from the first read
        self.pool = SlotPool()

    def _slot(self) -> Slot | None:
        slot = self.pool.take()
        if slot is not None or self.layout is None:
            return slot
        if self.pin:
            return Slot({k: torch.empty((self.capacity, *shape), dtype=_torch_dtype(dtype), pin_memory=True).numpy()
                         for k, (shape, dtype) in self.layout.items()})
        return Slot({k: np.empty((self.capacity, *shape), dtype) for k, (shape, dtype) in self.layout.items()})

    def read(self, ids: np.ndarray, batch_size: int):
        slot = self._slot()
        out = None if slot is None else {k: a[: len(ids)] for k, a in slot.arrays.items()}
        chunk = self.source.read(ids, out=out)
        if self.layout is None:
            self.layout = {k: (chunk[k].shape[1:], chunk[k].dtype) for k in self.reusable if k in chunk}
        batches = []
        for lo in range(0, len(ids), batch_size):
            part = {k: v[lo: lo + batch_size] for k, v in chunk.items()}
            part = convert.tensors(part, self.to_tensor)
            batches.append(pin_batch(part) if self.pin else part)
        return slot, batches


def _torch_dtype(dtype: np.dtype):
    return torch.from_numpy(np.empty(0, dtype)).dtype


class _ItemReads:
    """Any map-style dataset: ``__getitems__`` (or ``__getitem__`` per sample), then ``collate_fn``."""

    batches_per_read = 1

    def __init__(self, dataset, collate_fn, pin: bool):
        self.dataset, self.collate_fn, self.pin = dataset, collate_fn, pin
        self.pool = SlotPool()  # never given a slot: collate allocates each batch

    def read(self, ids: np.ndarray, batch_size: int):
        ids = ids.tolist()
        getitems = getattr(self.dataset, "__getitems__", None)
        rows = getitems(ids) if getitems is not None else [self.dataset[i] for i in ids]
        batch = self.collate_fn(rows)
        return None, [pin_batch(batch) if self.pin else batch]
