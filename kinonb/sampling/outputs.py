"""Caller-provided output arrays (``out=``): one check for every batched read that fills one."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError


def output_array(given, shape, dtype, label: str) -> np.ndarray:
    """``given`` if it is a C-contiguous writeable ``dtype`` array of ``shape``; a new array when None."""
    dtype = np.dtype(dtype)
    if given is None:
        return np.empty(shape, dtype)
    if not isinstance(given, np.ndarray) or given.shape != tuple(shape) or given.dtype != dtype:
        found = (given.shape, given.dtype) if isinstance(given, np.ndarray) else type(given).__name__
        raise InvalidArgumentError(f"{label} must be a {dtype} array of shape {tuple(shape)}, got {found}")
    if not (given.flags.c_contiguous and given.flags.writeable):
        raise InvalidArgumentError(f"{label} must be C-contiguous and writeable")
    return given
