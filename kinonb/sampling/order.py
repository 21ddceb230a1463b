"""Who reads which samples: rank and world size, the (seed, epoch) order, equal counts per rank, worker split.

Torch-free so that the same orders can be computed (and previewed, tested, planned) without torch;
:mod:`kinonb.torch.sharding` adds only what needs torch (``torch.distributed`` and the DataLoader worker).

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
from collections.abc import Mapping

import numpy as np

from ..errors import ArgumentTypeError, InvalidArgumentError

EQUALIZE = ("wrap", "drop")


def check_int(name: str, value, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``; bools and floats are refused (a float seed or count is a bug)."""
    try:
        v = operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if isinstance(value, bool) or v < minimum:
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}, got {value!r}")
    return v


def check_world(rank=None, world_size=None) -> tuple[int, int] | None:
    """Validated ``(rank, world_size)`` from arguments, or None when neither is given (half of a pair is an
    error: a rank without its world size cannot place its stream)."""
    if (rank is None) != (world_size is None):
        raise InvalidArgumentError(f"give both rank and world_size or neither, got rank={rank!r} world_size={world_size!r}")
    if rank is None:
        return None
    rank, world_size = check_int("rank", rank), check_int("world_size", world_size, 1)
    if rank >= world_size:
        raise InvalidArgumentError(f"rank must lie in [0, world_size={world_size}), got {rank}")
    return rank, world_size


def resolve_local_world(rank=None, world_size=None, environ=None) -> tuple[int, int]:
    """``(rank, world_size)`` without a process group: the arguments, else the ``RANK`` / ``WORLD_SIZE``
    environment variables (set by torchrun), else ``(0, 1)``. :func:`kinonb.torch.sharding.resolve_world`
    asks ``torch.distributed`` first and falls back to this."""
    given = check_world(rank, world_size)
    if given is not None:
        return given
    environ = os.environ if environ is None else environ
    env_rank, env_world = environ.get("RANK"), environ.get("WORLD_SIZE")
    if env_rank is not None and env_world is not None:
        return check_world(int(env_rank), int(env_world))
    return 0, 1


def rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch: a function of ``(seed, epoch)`` alone (never of rank, worker or time)."""
    seq = np.random.SeedSequence([check_int("seed", seed), check_int("epoch", epoch)])
    return np.random.Generator(np.random.PCG64(seq))


def permutation(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of ``n`` samples in epoch ``epoch``: a seeded permutation, or ``0..n-1`` without shuffle."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return rng(seed, epoch).permutation(n).astype(np.int64, copy=False)


def equalize(order: np.ndarray, world_size: int, policy: str) -> np.ndarray:
    """``order`` cut (``"drop"``) or extended from its start (``"wrap"``) to a multiple of ``world_size``."""
    if policy not in EQUALIZE:
        raise InvalidArgumentError(f"equalize must be one of {EQUALIZE}, got {policy!r}")
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


def resume_point(state, fmt: str, mine: dict, samples_in, owner: str, needs: str, changed: str) -> tuple[int, int]:
    """``(epoch, samples_consumed)`` of a saved ``state`` of format ``fmt``, checked against this reader: every
    ``mine`` entry must match (``needs`` names them in the error), and ``samples_in(epoch)`` (this rank's samples
    in that epoch) must equal the saved count (``changed`` says what may have changed) and bound the position."""
    if not isinstance(state, Mapping) or state.get("format") != fmt:
        raise InvalidArgumentError(f"not a {fmt} state: {state!r:.200}")
    for key, value in mine.items():
        if state.get(key) != value:
            raise InvalidArgumentError(f"state was saved with {key}={state.get(key)!r}, this {owner} has "
                                       f"{key}={value!r}; an exact resume needs the same {needs}")
    epoch = check_int("epoch", state.get("epoch"))
    n = samples_in(epoch)
    if state.get("num_samples") != n:
        raise InvalidArgumentError(f"state was saved with {state.get('num_samples')} samples per rank, this {owner} "
                                   f"has {n} ({changed} changed)")
    position = check_int("samples_consumed", state.get("samples_consumed"))
    if position > n:
        raise InvalidArgumentError(f"samples_consumed={position} lies past this rank's {n} samples")
    return epoch, position
