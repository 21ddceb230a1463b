"""The torch half of who-reads-which-samples: the process group's rank and the DataLoader worker.

The orders themselves (the (seed, epoch) permutation, equalisation, rank and worker splits) are torch-free and
live in :mod:`kinonb.sampling.order`, whose docstring explains them; their names are imported here too, so
``kinonb.torch.sharding.permutation`` and friends keep working.
"""

from __future__ import annotations

import os

from ..errors import InvalidArgumentError
from ..kernels.threads import set_num_threads
from ..sampling.order import (  # noqa: F401  (re-exported)
    EQUALIZE,
    check_int,
    check_world,
    equalize,
    permutation,
    rank_stream,
    resolve_local_world,
    rng,
    worker_positions,
)


def resolve_world(rank=None, world_size=None) -> tuple[int, int]:
    """``(rank, world_size)``: from ``torch.distributed`` when it is initialised, else from the arguments, else
    from the ``RANK`` / ``WORLD_SIZE`` environment variables (set by torchrun), else ``(0, 1)``.

    Arguments that contradict an initialised process group raise ValueError.
    """
    given = check_world(rank, world_size)
    try:
        import torch.distributed as dist

        initialised = dist.is_available() and dist.is_initialized()
    except ImportError:  # pragma: no cover
        initialised = False
    if not initialised:
        return resolve_local_world(rank, world_size)
    found = (dist.get_rank(), dist.get_world_size())
    if given is not None and given != found:
        raise InvalidArgumentError(f"rank={given[0]}, world_size={given[1]} contradict torch.distributed's "
                         f"rank={found[0]}, world_size={found[1]}")
    return found


def worker() -> tuple[int, int]:
    """``(worker id, number of workers)`` of the DataLoader worker this runs in; ``(0, 1)`` in the main process."""
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


def limit_threads_in_worker() -> None:
    """Inside a DataLoader worker, split kinonb's batches over 1 thread (as torch does with its own), so that
    N workers use N cores; ``KINONB_NUM_THREADS`` overrides it."""
    from torch.utils.data import get_worker_info

    if get_worker_info() is not None and "KINONB_NUM_THREADS" not in os.environ:
        set_num_threads(1)
