"""The BLOCK table and (format 1.1) the block_shapes table of a commit: old rows kept, new rows added."""

from __future__ import annotations

import numpy as np

from ..format import layout as L
from ..format.schema import Column


def block_tables(old_blocks: np.ndarray, old_shapes: np.ndarray | None, old_episodes: np.ndarray,
                 columns: list[Column], new_rows: list[dict]) -> tuple[np.ndarray, np.ndarray | None]:
    """``(blocks, block_shapes)`` for the old episodes plus ``new_rows`` (one ``{column: (offset, nbytes, crc32,
    frames, shape)}`` per new episode). block_shapes is None while no column needs per-block shapes, so a commit
    that uses none of 1.1's features is exactly a 1.0 commit."""
    n_old, c = len(old_blocks), len(columns)
    n = n_old + len(new_rows)
    blocks = np.zeros((n, c), L.BLOCK)
    blocks[:n_old, : old_blocks.shape[1]] = old_blocks
    need_shapes = old_shapes is not None or any(col.per_block for col in columns)
    shapes = np.zeros((n, c), L.BLOCK_SHAPE) if need_shapes else None
    if need_shapes:
        if old_shapes is not None:
            shapes[:n_old, : old_shapes.shape[1]] = old_shapes
        else:
            _fill_uniform(shapes[:n_old], old_blocks, old_episodes, columns)
    for i, row in enumerate(new_rows):
        for col, (off, nbytes, crc, frames, shape) in row.items():
            blocks[n_old + i, col] = (off, nbytes, crc, L.BLOCK_PRESENT)
            if need_shapes:
                shapes[n_old + i, col]["num_frames"] = frames
                shapes[n_old + i, col]["shape"][: len(shape)] = shape
    return blocks, shapes


def _fill_uniform(shapes: np.ndarray, blocks: np.ndarray, episodes: np.ndarray, columns: list[Column]) -> None:
    """Rows of episodes from 1.0 commits: every present block has the episode's T frames of its column's shape."""
    for c in range(blocks.shape[1]):
        present = (blocks[:, c]["flags"] & L.BLOCK_PRESENT) != 0
        shapes["num_frames"][:, c] = np.where(present, episodes["num_frames"], 0)
        dims = columns[c].shape
        for d, size in enumerate(dims):
            shapes["shape"][:, c, d] = np.where(present, size, 0)
