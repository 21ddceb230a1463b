"""Who reads which samples: rank and world size, the (seed, epoch) order, equal counts per rank, worker split.

An epoch of an iterable dataset is one *order*: an array of sample ids that is a function of
``(seed, epoch)`` only, so every rank computes the same one without talking to the others. Then:

1. **Equalise** the order to a multiple of ``world_size`` so every rank gets the same count and no DDP rank
   waits on a collective another rank never reaches: ``"drop"`` removes the last ``N % world_size`` ids
   (they differ from epoch to epoch when shuffled); ``"wrap"`` appends the first ``(-N) % world_size`` ids of
   the order again (as ``DistributedSampler(drop_last=False)`` does), so those few samples are seen twice.
2. **Rank split**: rank ``r`` takes every ``world_size``-th id starting at ``r`` (``order[r::world_size]``),
   its *rank stream*. Ranks are disjoint (up to the wrapped ids) and together complete.
3. **Worker split**: from the position the pass starts at (0, or a restored position), the rank stream is cut
   into consecutive blocks of ``block`` samples (the dataset's ``batch_size``, else its ``block_size``); block
   ``k`` goes to worker ``k % num_workers``. The DataLoader collects from workers round-robin (``in_order``,
   its default), so it hands out the rank stream in order, whatever the number of workers.
"""

from __future__ import annotations

import operator
import os

import numpy as np

EQUALIZE = ("wrap", "drop")


def _int(name, value, minimum=0):
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if isinstance(value, bool) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return v


def resolve_world(rank=None, world_size=None) -> tuple[int, int]:
    """``(rank, world_size)``: from ``torch.distributed`` when it is initialised, else from the arguments, else
    from the ``RANK`` / ``WORLD_SIZE`` environment variables (set by torchrun), else ``(0, 1)``.

    Arguments that contradict an initialised process group raise ValueError.
    """
    if (rank is None) != (world_size is None):
        raise ValueError(f"give both rank and world_size or neither, got rank={rank!r} world_size={world_size!r}")
    if rank is not None:
        rank, world_size = _int("rank", rank), _int("world_size", world_size, 1)
        if rank >= world_size:
            raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank}")
    try:
        import torch.distributed as dist

        initialised = dist.is_available() and dist.is_initialized()
    except ImportError:  # pragma: no cover
        initialised = False
    if initialised:
        found = (dist.get_rank(), dist.get_world_size())
        if rank is not None and (rank, world_size) != found:
            raise ValueError(f"rank={rank}, world_size={world_size} contradict torch.distributed's "
                             f"rank={found[0]}, world_size={found[1]}")
        return found
    if rank is not None:
        return rank, world_size
    env_rank, env_world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if env_rank is not None and env_world is not None:
        return resolve_world(int(env_rank), int(env_world))
    return 0, 1


def worker() -> tuple[int, int]:
    """``(worker id, number of workers)`` of the DataLoader worker this runs in; ``(0, 1)`` in the main process."""
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


def rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch: a function of ``(seed, epoch)`` alone (never of rank, worker or time)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([_int("seed", seed), _int("epoch", epoch)])))


def permutation(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of ``n`` samples in epoch ``epoch``: a seeded permutation, or ``0..n-1`` without shuffle."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return rng(seed, epoch).permutation(n).astype(np.int64, copy=False)


def equalize(order: np.ndarray, world_size: int, policy: str) -> np.ndarray:
    """``order`` cut (``"drop"``) or extended from its start (``"wrap"``) to a multiple of ``world_size``."""
    if policy not in EQUALIZE:
        raise ValueError(f"equalize must be one of {EQUALIZE}, got {policy!r}")
    n = len(order)
    extra = n % world_size
    if extra == 0 or n == 0:
        return order
    if policy == "drop":
        return order[: n - extra]
    return np.concatenate([order, np.resize(order, world_size - extra)])


def rank_stream(order: np.ndarray, rank: int, world_size: int, policy: str) -> np.ndarray:
    """The ids rank ``rank`` reads this epoch, in order."""
    return equalize(order, world_size, policy)[rank::world_size]


def worker_positions(n: int, start: int, block: int, worker_id: int, num_workers: int) -> np.ndarray:
    """Positions in a rank stream of length ``n`` that worker ``worker_id`` reads when a pass starts at ``start``:
    blocks of ``block`` consecutive positions from ``start`` on, block ``k`` to worker ``k % num_workers``."""
    pos = np.arange(start, n, dtype=np.int64)
    if num_workers == 1:
        return pos
    return pos[((pos - start) // block) % num_workers == worker_id]
