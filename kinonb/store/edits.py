"""What an edit commit changes (format 1.2): the edits a writer has recorded since its last commit, and how they
turn the complete footer of that commit-to-be into the edited one.

Nothing before the commit is rewritten: a deleted episode's row is left out of the new footer, a relabelled one
gets a new EPISODE record (its new attrs appended to the heap), a trimmed one or one with a new column points at
new blocks written with this commit. Positions are those before the commit; its deletes apply last.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..format import layout as L
from ..format.commit_info import encode_commit_info
from ..format.footer import Footer


@dataclass
class PendingEdits:
    deleted: set = field(default_factory=set)
    records: dict = field(default_factory=dict)  # position -> its new EPISODE record
    rows: dict = field(default_factory=dict)  # position -> {column: (offset, nbytes, crc32, frames, shape)}
    replaced: set = field(default_factory=set)  # positions whose whole row is ``rows[p]`` (trim)
    attrs: dict = field(default_factory=dict)  # position -> its new attrs dict (set_meta, trim)
    frames_removed: int = 0  # by deletes and trims: Writer.num_frames
    changes: dict = field(default_factory=lambda: {"deleted": [], "relabelled": [], "columns": {}, "trimmed": []})

    def __bool__(self) -> bool:
        return bool(self.deleted or self.records or self.rows)

    def note(self, kind: str, position: int, name: str | None = None) -> None:
        positions = self.changes[kind] if name is None else self.changes["columns"].setdefault(name, [])
        if position not in positions:
            positions.append(position)

    def apply(self, footer: Footer, prev_end: int, added: int) -> Footer:
        """The footer with every edit applied (``footer``: the commit's complete footer before them)."""
        episodes, blocks, shapes = footer.episodes, footer.blocks, footer.block_shapes
        for p, rec in self.records.items():
            episodes[p] = rec
        for p, row in self.rows.items():
            if p in self.replaced:
                blocks[p] = np.zeros((), L.BLOCK)
                if shapes is not None:
                    shapes[p] = np.zeros((), L.BLOCK_SHAPE)
            for c, (off, nbytes, crc, frames, shape) in row.items():
                blocks[p, c] = (off, nbytes, crc, L.BLOCK_PRESENT)
                if shapes is not None:
                    shapes[p, c]["num_frames"] = frames
                    shapes[p, c]["shape"] = 0
                    shapes[p, c]["shape"][: len(shape)] = shape
        if shapes is not None:
            _uniform_rows(shapes, blocks, episodes, footer.columns, sorted(set(self.records) | set(self.rows)))
        keep = np.ones(len(episodes), bool)
        keep[sorted(self.deleted)] = False
        episodes, blocks = episodes[keep], blocks[keep]
        shapes = None if shapes is None else shapes[keep]
        frames = episodes["num_frames"].astype(np.int64)
        episodes["frame_start"] = np.cumsum(frames) - frames
        changes = {k: sorted(v) if isinstance(v, list) else {n: sorted(p) for n, p in v.items()}
                   for k, v in self.changes.items()}
        info = encode_commit_info(_now(), prev_end, added, changes)
        return replace(footer, episodes=episodes, blocks=blocks, block_shapes=shapes, num_frames=int(frames.sum()),
                       commit_info=info, minor=2)


def _now() -> float:
    """The commit's time: ``SOURCE_DATE_EPOCH`` when set (reproducible files, as reproducible builds do it)."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH")
    return float(fixed) if fixed else time.time()


def _uniform_rows(shapes: np.ndarray, blocks: np.ndarray, episodes: np.ndarray, columns: list, rows: list) -> None:
    """Edited rows of columns without per-block shapes: the episode's frame count and the column's shape."""
    for c, col in enumerate(columns):
        if col.per_block:
            continue
        for p in rows:
            present = bool(blocks[p, c]["flags"] & L.BLOCK_PRESENT)
            shapes[p, c]["num_frames"] = episodes[p]["num_frames"] if present else 0
            shapes[p, c]["shape"] = 0
            if present:
                shapes[p, c]["shape"][: len(col.shape)] = col.shape
