"""The BLOCK table and (format 1.1) the block_shapes table of a commit: old rows kept, new rows added."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..format import layout as L
from ..format.schema import Column


@dataclass(frozen=True)
class BlockRows:
    """The blocks of ``count`` consecutive new episodes at once (``Writer.add_episodes``): ``{column: (offsets,
    nbytes, crc32s, frames, shape)}``, the first three and frames arrays of ``count``."""

    count: int
    columns: dict


def block_tables(old_blocks: np.ndarray, old_shapes: np.ndarray | None, old_episodes: np.ndarray,
                 columns: list[Column], new_rows: list[dict]) -> tuple[np.ndarray, np.ndarray | None]:
    """``(blocks, block_shapes)`` for the old episodes plus ``new_rows`` (one ``{column: (offset, nbytes, crc32,
    frames, shape)}`` per new episode, or a :class:`BlockRows` of several). block_shapes is None while no column
    needs per-block shapes, so a commit that uses none of 1.1's features is exactly a 1.0 commit."""
    n_old, c = len(old_blocks), len(columns)
    n = n_old + sum(row.count if isinstance(row, BlockRows) else 1 for row in new_rows)
    blocks = np.zeros((n, c), L.BLOCK)
    blocks[:n_old, : old_blocks.shape[1]] = old_blocks
    need_shapes = old_shapes is not None or any(col.per_block for col in columns)
    shapes = np.zeros((n, c), L.BLOCK_SHAPE) if need_shapes else None
    if need_shapes:
        if old_shapes is not None:
            shapes[:n_old, : old_shapes.shape[1]] = old_shapes
        else:
            _fill_uniform(shapes[:n_old], old_blocks, old_episodes, columns)
    i = n_old
    for row in new_rows:
        rows = slice(i, i + row.count) if isinstance(row, BlockRows) else i
        for col, (off, nbytes, crc, frames, shape) in (row.columns if isinstance(row, BlockRows) else row).items():
            for field, value in (("offset", off), ("nbytes", nbytes), ("crc32", crc), ("flags", L.BLOCK_PRESENT)):
                blocks[field][rows, col] = value
            if need_shapes:
                shapes["num_frames"][rows, col] = frames
                shapes["shape"][rows, col, : len(shape)] = shape
        i += row.count if isinstance(row, BlockRows) else 1
    return blocks, shapes


def _fill_uniform(shapes: np.ndarray, blocks: np.ndarray, episodes: np.ndarray, columns: list[Column]) -> None:
    """Rows of episodes from 1.0 commits: every present block has the episode's T frames of its column's shape."""
    for c in range(blocks.shape[1]):
        present = (blocks[:, c]["flags"] & L.BLOCK_PRESENT) != 0
        shapes["num_frames"][:, c] = np.where(present, episodes["num_frames"], 0)
        dims = columns[c].shape
        for d, size in enumerate(dims):
            shapes["shape"][:, c, d] = np.where(present, size, 0)
