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
4. **Resume, at any world size.** Rank ``r`` reads ``order[r::W]``, so after every rank has read ``k`` samples
   the ranks together have read exactly ``order[:k * W]``, whatever ``W`` is (the ranks of a DDP run move in
   lockstep). A saved state records that count (``consumed_all_ranks``); ranks of another world size ``W'``
   resume by splitting the rest of the same order, ``order[k * W:]``, equalised and cut ``[r::W']``
   (:func:`rank_stream` with ``skip``). The global sequence, sample by sample, is the same as an uninterrupted
   run's, for any number of ranks before and after: Mosaic Streaming's "canonical nodes" get the same
   guarantee by fixing a number of canonical partitions; here the single global order is the canonical one,
   and the split is a view of it. At the same world size a state resumes exactly where its rank stood.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Mapping
from dataclasses import dataclass

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


def rank_stream(order: np.ndarray, rank: int, world_size: int, policy: str, skip: int = 0) -> np.ndarray:
    """The ids rank ``rank`` reads this epoch, in order, once the first ``skip`` ids of ``order`` have been read
    (by all the ranks together: a resumed pass). The rest is equalised (:func:`equalize`, ``"wrap"`` repeating
    the epoch's first ids) and split; with ``skip = k * world_size`` it is exactly the tail of the unresumed
    stream from position ``k``, so a resume at the same world size changes nothing."""
    if skip == 0:
        return equalize(order, world_size, policy)[rank::world_size]
    rest = order[skip:]
    extra = len(rest) % world_size
    if extra and policy == "drop":
        rest = rest[: len(rest) - extra]
    elif extra:
        rest = np.concatenate([rest, np.resize(order, world_size - extra)])
    return rest[rank::world_size]


def consumed_over_ranks(skip: int, position: int, world_size: int, total: int) -> int:
    """Ids of an epoch's order read by all ranks together when each rank stands at ``position`` of its stream
    (the ranks of a DDP run move in lockstep), a pass having started after ``skip``: at most the epoch's
    ``total`` (a wrapped repeat is no new id)."""
    return min(skip + position * world_size, total)


def worker_positions(n: int, start: int, block: int, worker_id: int, num_workers: int) -> np.ndarray:
    """Positions in a rank stream of length ``n`` that worker ``worker_id`` reads when a pass starts at ``start``:
    blocks of ``block`` consecutive positions from ``start`` on, block ``k`` to worker ``k % num_workers``."""
    pos = np.arange(start, n, dtype=np.int64)
    if num_workers == 1:
        return pos
    return pos[((pos - start) // block) % num_workers == worker_id]


@dataclass(frozen=True)
class Resume:
    """Where a restored pass starts: its epoch, the ids of the epoch's order read by all ranks before the rank
    streams were last split (``skip``, see :func:`rank_stream`), and the position in this rank's stream."""

    epoch: int
    skip: int
    start: int


def resume_point(state, fmt: str, mine: dict, world_size: int, sizes, owner: str, needs: str,
                 changed: str) -> Resume:
    """Where a saved ``state`` of format ``fmt`` resumes this reader; every ``mine`` entry must match (``needs``
    names them in the error) and ``sizes(epoch, skip)`` (the ids in that epoch's order, this rank's stream
    length) the saved counts (``changed`` says what may have changed).

    The same world size resumes exactly where this rank stood (``skip`` and ``samples_consumed`` as saved).
    Another world size resumes the epoch at the ``consumed_all_ranks`` ids the ranks read together (the order
    is the same for any world size; the new ranks split the rest): a state saved at 4 ranks resumes at 2 with
    no sample lost or repeated. A state without that entry (saved before it existed) counts
    ``samples_consumed * world_size``."""
    if not isinstance(state, Mapping) or state.get("format") != fmt:
        raise InvalidArgumentError(f"not a {fmt} state: {state!r:.200}")
    for key, value in mine.items():
        if state.get(key) != value:
            raise InvalidArgumentError(f"state was saved with {key}={state.get(key)!r}, this {owner} has "
                                       f"{key}={value!r}; an exact resume needs the same {needs}")
    epoch = check_int("epoch", state.get("epoch"))
    position = check_int("samples_consumed", state.get("samples_consumed"))
    saved_world = check_int("world_size", state.get("world_size"), 1)
    skip = check_int("skip", state.get("skip", 0))
    total, _ = sizes(epoch, 0)
    if state.get("epoch_samples", total) != total:
        raise InvalidArgumentError(f"state was saved with {state.get('epoch_samples')} samples in epoch {epoch}, "
                                   f"this {owner} has {total} ({changed} changed)")
    consumed = state.get("consumed_all_ranks")
    consumed = check_int("consumed_all_ranks", consumed_over_ranks(skip, position, saved_world, total)
                         if consumed is None else consumed)
    if consumed > total or skip > total:
        raise InvalidArgumentError(f"state lies past the {total} samples of epoch {epoch}")
    if saved_world != world_size:
        return Resume(epoch, consumed, 0)
    _, n = sizes(epoch, skip)
    if state.get("num_samples") != n:
        raise InvalidArgumentError(f"state was saved with {state.get('num_samples')} samples per rank, this {owner} "
                                   f"has {n} ({changed} changed)")
    if position > n:
        raise InvalidArgumentError(f"samples_consumed={position} lies past this rank's {n} samples")
    return Resume(epoch, skip, position)
