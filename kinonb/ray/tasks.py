"""What one Ray read task runs, in a worker: open its files, build the sample index of its episodes, and read
them a block at a time (one ``SampleIndex.read`` per block: one compiled call per key), or read its episodes
whole. Everything it needs comes in its :class:`~kinonb.ray.plan.TaskSpec`: paths, positions and options."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .blocks import episode_block, window_block
from .plan import Segment, TaskSpec
from .rows import episode_meta


def read_task(spec: TaskSpec) -> Iterator:
    """The blocks of one task, in its read order (a generator: Ray takes each block as it is made)."""
    for segment in spec.segments:
        db = segment.source.open()
        try:
            if spec.config.windows is None:
                yield from _episode_blocks(db, segment, spec)
            else:
                yield from _window_blocks(db, segment, spec)
        finally:
            getattr(db, "close", lambda: None)()


def _window_blocks(db, segment: Segment, spec: TaskSpec) -> Iterator:
    config = spec.config
    index = db.sample_index(config.windows, episodes=segment.positions, **config.sample_options)
    n = len(index)
    for lo in range(0, n, spec.block_rows):
        batch = index.read(np.arange(lo, min(n, lo + spec.block_rows), dtype=np.int64), **config.read_options)
        batch["episode"] = batch["episode"] + segment.offset  # dataset positions
        yield window_block(batch)


def _episode_blocks(db, segment: Segment, spec: TaskSpec) -> Iterator:
    columns = list(spec.config.columns)
    positions = segment.positions.tolist()
    for lo in range(0, len(positions), spec.block_rows):
        rows = []
        for p in positions[lo:lo + spec.block_rows]:
            row = episode_meta(db.read_meta(p), segment.offset + p)
            row.update({name: db.frames(p, name) for name in columns})
            rows.append(row)
        yield episode_block(rows, columns)
