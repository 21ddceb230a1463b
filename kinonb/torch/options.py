"""The sample options both dataset classes take, parsed once: how windows are indexed (``pad_dims``,
``missing``, ``rate``, ``max_staleness``, passed to ``db.sample_index``), the float dtype of what they return,
and the per-episode arrays added to every sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ArgumentTypeError, InvalidArgumentError

#: torch float dtypes the layer converts float arrays to (numpy has no bfloat16: convert in the loop instead).
FLOAT_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}
_INDEX_DEFAULTS = {"pad_dims": None, "missing": "error", "rate": None, "max_staleness": None}


@dataclass(frozen=True)
class SampleOptions:
    """``dtype``: torch float dtype that low-dim float arrays come as (default float32; ``None``: as stored;
    cameras follow ``normalize``). ``episode_arrays``: names of per-episode arrays (``read_episode(i)
    ["episode_arrays"]``) added to every sample. The others are :meth:`kinonb.Database.sample_index`'s."""

    pad_dims: object = None
    missing: str = "error"
    rate: object = None
    max_staleness: object = None
    dtype: object = torch.float32
    episode_arrays: tuple = ()

    def __post_init__(self):
        if self.dtype is not None and self.dtype not in FLOAT_DTYPES:
            raise InvalidArgumentError(f"dtype must be one of {list(FLOAT_DTYPES)} or None (as stored), "
                                       f"got {self.dtype!r}")
        names = self.episode_arrays
        if isinstance(names, str) or not all(isinstance(n, str) for n in (names or ())):
            raise ArgumentTypeError(f"episode_arrays must be a list of array names, got {names!r}")
        object.__setattr__(self, "episode_arrays", tuple(names or ()))

    @property
    def numpy_dtype(self):
        return None if self.dtype is None else np.dtype(FLOAT_DTYPES[self.dtype])

    def index_kwargs(self) -> dict:
        """The ``sample_index`` options that differ from its defaults (a .kdb reader takes none of them)."""
        given = {k: getattr(self, k) for k in _INDEX_DEFAULTS}
        return {k: v for k, v in given.items() if v is not _INDEX_DEFAULTS[k] and v != _INDEX_DEFAULTS[k]}

    def check_windowed(self, windowed: bool) -> None:
        if not windowed and self.index_kwargs():
            raise InvalidArgumentError(f"{sorted(self.index_kwargs())} apply to windows; whole episodes are read as "
                                       f"stored (use pad_collate for episodes of other widths)")
