"""Checking and writing one episode's column blocks: what ``add_episode``, ``add_column`` and ``trim`` share.

``prepare_blocks`` only checks and encodes (a refused column leaves no trace); ``write_blocks`` then creates new
columns, writes each block and folds its statistics into the column's.
"""

from __future__ import annotations

import numpy as np

from ..codecs.registry import encode_block
from ..format import stats as S
from .column_input import check_timestamps, prepare_column
from .column_stats import column_stats


def prepare_blocks(w, t: int, given: list) -> list:
    """``[(column index or None for a new column, Column, array, pieces)]`` for the ``given`` columns of an episode
    of ``t`` frames, checked against the writer's columns; nothing is changed."""
    ids = {col.name: i for i, col in enumerate(w._columns)}
    prepared = []
    for g in given:
        c = ids.get(g.name)
        col, arr = prepare_column(g, t, w._columns[c] if c is not None else None, w._codecs.codec_for(g.name),
                                  w._dtypes.get(g.name))
        check_timestamps(col, arr)
        pieces = encode_block(col.codec, arr, int(np.prod(arr.shape[1:])) * col.dtype.itemsize, w._codecs.options)
        prepared.append((c, col, arr, pieces))
    return prepared


def write_blocks(w, prepared: list) -> dict:
    """Create the new columns, write the blocks in column order; return ``{column: (offset, nbytes, crc32, frames,
    shape)}``. Only I/O can fail from here on (the writer then fails, and truncates to its last commit)."""
    w._small.forget_layout()
    for k, (c, col, arr, pieces) in enumerate(prepared):
        if c is None:
            prepared[k] = (len(w._columns), col, arr, pieces)
            w._columns.append(col)
            w._intern(col.name)
            w._stats.append(S.empty())
        else:
            w._columns[c] = col  # it may have gained a flag (a new width or frame count)
    row: dict[int, tuple] = {}
    try:
        for c, col, arr, pieces in sorted(prepared, key=lambda x: x[0]):
            row[c] = (*w._write_block(pieces), arr.shape[0], arr.shape[1:])
            if isinstance(arr, np.ndarray):  # pre-encoded frames are stored undecoded: no statistics
                w._stats[c] = S.merge(w._stats[c], column_stats(arr))
    except OSError as e:
        w._fail(e)
    return row
