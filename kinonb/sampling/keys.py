"""One key of a sample index: its window, where its frames live, its widths and (streams) its times.

Episodes lacking a window key: ``missing="error"`` (default) refuses them naming the episode, ``"skip"``
leaves them out of the index (:attr:`SampleIndex.skipped_episodes`). A key is absent from an episode when
the file has no block of it there, or (streams, own frame counts) a block of 0 frames in an episode that has
frames.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFieldError, InvalidArgumentError
from ..format import layout as L
from ..protocol import ColumnBlocks
from .widths import key_widths

ROLE_STREAM = L.ROLE_STREAM
MISSING = ("error", "skip")


class Key:
    """What reading one key needs, every offset checked against its buffer."""

    def __init__(self, db, name: str, offsets: np.ndarray, blocks: ColumnBlocks, lengths: np.ndarray,
                 episodes: np.ndarray, pad_dims):
        col = blocks.column
        self.name = name
        self.column = col
        self.offsets = offsets
        self.blocks = blocks
        self.is_camera = col.role == L.ROLE_CAMERA
        self.is_stream = col.role == ROLE_STREAM
        counts = lengths if blocks.frame_counts is None else np.asarray(blocks.frame_counts, np.int64)
        self.ep_len = np.ascontiguousarray(counts, np.int64)  # frames of this key per episode: the clamp bound
        self.byte_starts = blocks.starts
        self.anchors = None  # streams in frame mode: StreamAnchors
        self.times = None  # rate mode: Segments of this key
        if self.is_camera:
            self._camera(blocks, episodes)
            return
        self.widths = key_widths(name, col.shape, blocks.shapes, pad_dims, episodes)
        self.padded = self.widths.padded
        self.row_elems = self.widths.lead * int(self.widths.dims[0]) if len(episodes) else 0
        self.flat = blocks.buffer.view(col.dtype)
        self.ep_start = np.ascontiguousarray(blocks.starts // col.dtype.itemsize, np.int64)
        self.zero = np.zeros(1, col.dtype)
        end = self.ep_start + self.ep_len * self.widths.lead * self.widths.dims
        self.byte_lengths = (end - self.ep_start) * col.dtype.itemsize  # of each episode's block in the buffer
        bad = (blocks.starts % col.dtype.itemsize != 0) | (self.ep_start < 0) | (end > self.flat.size)
        if bad.any():
            e = int(np.flatnonzero(bad)[0])
            raise CorruptFieldError(db.path(), int(blocks.starts[e]), f"key {name!r} of episode "
                                    f"{int(episodes[e])}: aligned rows inside {blocks.buffer.size} bytes",
                                    f"rows up to element {int(end[e])}")

    def _camera(self, blocks: ColumnBlocks, episodes) -> None:
        self.padded = False
        if blocks.shapes is not None and len(blocks.shapes) and not (blocks.shapes == blocks.shapes[0]).all():
            found = sorted({tuple(s) for s in np.asarray(blocks.shapes).tolist()})
            raise InvalidArgumentError(f"camera {self.name!r} has frames of shapes {found} across the episodes; "
                                       f"windows read cameras of one shape: filter episodes with "
                                       f"episodes=db.query(...)")
        if self.is_stream:
            raise InvalidArgumentError(f"camera {self.name!r}: camera streams are not supported by windows")
        self.row_elems = self.column.frame_nbytes

    @property
    def shape(self) -> tuple:
        """Per-frame output shape (padded keys: the last axis is the batch's width)."""
        return tuple(self.column.shape) if self.is_camera else self.widths.shape


def check_missing(missing) -> str:
    if missing not in MISSING:
        raise InvalidArgumentError(f"missing must be one of {MISSING}, got {missing!r}")
    return missing


def _absent(blocks: ColumnBlocks, lengths: np.ndarray, stream: bool) -> np.ndarray:
    """Episodes (positions in the list) whose block of this key has no frame although the episode has some
    (a stream: none at all)."""
    if blocks.frame_counts is None:
        return np.zeros(len(lengths), bool)
    counts = np.asarray(blocks.frame_counts, np.int64)
    return (counts == 0) & ((lengths > 0) | stream)


def _probe(db, key: str, eps: np.ndarray) -> np.ndarray:
    """Which of ``eps`` have ``key`` (one ``column_blocks`` call per episode: only when some lack it)."""
    have = np.zeros(len(eps), bool)
    for i, p in enumerate(eps.tolist()):
        try:
            db.column_blocks(key, np.array([p], np.int64))
            have[i] = True
        except InvalidArgumentError:
            pass
    return have


def key_blocks(db, names, eps: np.ndarray, lengths: np.ndarray, missing: str):
    """``(episodes kept, lengths kept, {name: ColumnBlocks})``: ``missing="skip"`` drops the episodes that lack
    a key, ``"error"`` raises InvalidArgumentError naming the first."""
    keep = np.ones(len(eps), bool)
    got = {}
    for name in names:
        try:
            blocks = db.column_blocks(name, eps[keep])
        except InvalidArgumentError:
            if missing == "error":
                raise
            have = _probe(db, name, eps[keep])
            if not have.any():
                raise
            keep[np.flatnonzero(keep)[~have]] = False
            blocks = db.column_blocks(name, eps[keep])
        used = keep.copy()
        absent = _absent(blocks, lengths[keep], blocks.column.role == ROLE_STREAM)
        if absent.any():
            p = int(eps[keep][np.flatnonzero(absent)[0]])
            if missing == "error":
                raise InvalidArgumentError(f"key {name!r} has no frames in episode {p}; filter episodes with "
                                           f"episodes=db.query(...), or pass missing='skip'")
            keep[np.flatnonzero(keep)[absent]] = False
        got[name] = (used, blocks)
    blocks = {name: b if np.array_equal(k, keep) else db.column_blocks(name, eps[keep]) for name, (k, b) in got.items()}
    return eps[keep], lengths[keep], blocks
