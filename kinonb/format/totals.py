"""Totals a file states about itself, checked against the records they summarise (.knb and .kdb alike)."""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFieldError


def check_frame_total(path, offset, stated: int, episode_frames: np.ndarray, where: str) -> int:
    """Raise CorruptFieldError unless ``stated`` (the ``where`` field at ``offset``) equals the sum of
    ``episode_frames``; return the sum."""
    total = int(np.asarray(episode_frames, np.int64).sum()) if len(episode_frames) else 0
    if int(stated) != total:
        raise CorruptFieldError(path, offset, f"{where} equal to the sum over the episodes ({total})", int(stated))
    return total
