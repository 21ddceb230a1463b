"""``Writer.add_episodes``: many episodes from concatenated per-frame arrays, in a few compiled calls.

The batch is checked once, whole, by ``add_episode``'s rules: each column's concatenation goes through
``prepare_column`` (dtype, shape, width against the file), the per-episode values through
:mod:`kinonb.store.batch_values`. Then, chunk by chunk (at most ``CHUNK_BYTES`` of blocks), each column's blocks
of the chunk's episodes are laid out in index order (episode by episode, aligned, exactly as ``add_episode``
places them) in one buffer that :func:`kinonb.kernels.blocks.pack_blocks` fills and checksums, and that goes
to the file in one write. The BLOCK rows, EPISODE records and column statistics are numpy arrays, never a
Python object per episode. Autocommit bounds are checked after every chunk.
"""

from __future__ import annotations

import numpy as np

from ..errors import SchemaError
from ..format import layout as L
from ..format import stats as S
from ..kernels.blocks import TABLES, pack_blocks
from ..kernels.threads import run_split
from .batch_values import BatchValues, batch_lengths, batch_values
from .block_table import BlockRows
from .column_stats import column_stats
from .column_input import episode_columns, prepare_column

CHUNK_BYTES = 64 << 20


def add_episodes(w, lengths, actions, states, rewards, is_terminal, columns, task, embodiment, fps, success,
                 total_reward, episode_id) -> range:
    """See :meth:`kinonb.store.writer.Writer.add_episodes`."""
    w._check_open()
    w._small.flush(w)
    w._small.forget_layout()  # the batch may add columns or flags
    lengths = batch_lengths(lengths)
    first = w.num_episodes
    if columns is not None and not isinstance(columns, dict):
        raise SchemaError(f"columns must be a dict of {{name: array}} or None, got {type(columns).__name__}")
    if not len(lengths):
        return range(first, first)
    total, given = episode_columns(actions, states, rewards, is_terminal, None, columns)
    for g in given:
        if g.value.shape[0] != int(lengths.sum()):
            raise SchemaError(f"{g.name}: expected {int(lengths.sum())} rows (the sum of lengths), got shape "
                              f"{g.value.shape}")
    values = batch_values(lengths, task, embodiment, fps, success, total_reward, episode_id)
    ids = {col.name: i for i, col in enumerate(w._columns)}
    prepared = []
    for g in given:
        c = ids.get(g.name)
        col, arr = prepare_column(g, total, w._columns[c] if c is not None else None, L.CODEC_RAW,
                                  w._dtypes.get(g.name))
        prepared.append((c, col, arr))
    return write_batch(w, lengths, prepared, values)


def write_batch(w, lengths: np.ndarray, prepared: list, values: BatchValues) -> range:
    """Write checked episodes: ``prepared`` holds ``(column index or None for a new one, Column, array of all
    their frames)`` per column, ``values`` their per-episode values. Only I/O can fail from here on."""
    first = w.num_episodes

    def add_columns():
        for k, (c, col, arr) in enumerate(prepared):
            if c is None:
                prepared[k] = (len(w._columns), col, arr)
                w._columns.append(col)
                w._intern(col.name)
                w._stats.append(S.empty())
            else:
                w._columns[c] = col

    records = _records(w, values, add_columns)
    prepared.sort(key=lambda x: x[0])
    arrays = [arr for _, _, arr in prepared]
    frame_of = np.concatenate([[0], np.cumsum(lengths)])
    for lo, hi in _chunks(lengths, [_row_bytes(arr) for arr in arrays]):
        try:
            blocks = _write_chunk(w, arrays, lengths[lo:hi], int(frame_of[lo]))
        except OSError as e:
            w._fail(e)
        rows = {c: (*blocks[k], lengths[lo:hi], arr.shape[1:]) for k, (c, _, arr) in enumerate(prepared)}
        for c, _, arr in prepared:
            w._stats[c] = S.merge(w._stats[c], column_stats(arr[frame_of[lo] : frame_of[hi]]))
        chunk = records[lo:hi]
        chunk["frame_start"] = w._num_frames + frame_of[lo:hi] - frame_of[lo]
        chunk["attrs_offset"] = len(w._attrs) + w._new_attrs_len
        w._num_frames += int(frame_of[hi] - frame_of[lo])
        w._add_pending(chunk, BlockRows(hi - lo, rows))
        w._autocommit.commit_if_due(w)
    return range(first, first + len(lengths))


def _records(w, values, add_columns) -> np.ndarray:
    n = len(values.lengths)
    rec = np.zeros(n, L.EPISODE)
    rec["episode_id"] = (w._next_id + np.arange(n, dtype=np.uint64)) if values.episode_id is None else values.episode_id
    rec["num_frames"] = values.lengths
    rec["fps"] = values.fps
    rec["task_id"], rec["embodiment_id"] = _interned(w, values, add_columns)
    rec["success"] = values.success
    if values.total_reward is not None:
        rec["total_reward"] = values.total_reward
        rec["flags"] = L.EPISODE_HAS_REWARD
    w._next_id = max(w._next_id, int(rec["episode_id"].max()) + 1)
    return rec


def _interned(w, values, add_columns) -> tuple[np.ndarray, np.ndarray]:
    """String ids of each episode's task and embodiment, interned in add_episode's order (each episode's task,
    then its embodiment, in episode order; new column names after the first episode's), so that the string
    table is the one an add_episode loop makes."""
    firsts = []
    for kind, (distinct, index) in enumerate(((values.tasks, values.task_index),
                                              (values.embodiments, values.embodiment_index))):
        first = np.full(len(distinct), len(index), np.int64)
        np.minimum.at(first, index, np.arange(len(index)))
        firsts += [(int(first[k]), kind, k) for k in range(len(distinct))]
    ids = [np.zeros(len(values.tasks), np.uint32), np.zeros(len(values.embodiments), np.uint32)]
    firsts.sort()
    for first, kind, k in firsts:
        if first == 0:  # the first episode's strings come before the column names
            ids[kind][k] = w._intern((values.tasks, values.embodiments)[kind][k])
    add_columns()
    for first, kind, k in firsts:
        if first > 0:
            ids[kind][k] = w._intern((values.tasks, values.embodiments)[kind][k])
    return ids[0][values.task_index], ids[1][values.embodiment_index]


def _pack(data, src, sizes, buf, rel, out, lo, hi):
    pack_blocks(data, src[lo:hi], sizes[lo:hi], buf, rel[lo:hi], TABLES, out[lo:hi])


def _row_bytes(arr: np.ndarray) -> int:
    return int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize


def _padded(sizes: np.ndarray) -> np.ndarray:
    return (sizes + L.ALIGNMENT - 1) // L.ALIGNMENT * L.ALIGNMENT


def _chunks(lengths: np.ndarray, row_bytes: list[int]):
    """``(lo, hi)`` episode ranges whose blocks take at most CHUNK_BYTES (at least one episode each)."""
    per_episode = sum((_padded(lengths * r) for r in row_bytes), np.zeros(len(lengths), np.int64))
    ends = np.cumsum(per_episode)
    lo = 0
    while lo < len(lengths):
        base = int(ends[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + CHUNK_BYTES, side="right")))
        yield lo, hi
        lo = hi


def _write_chunk(w, arrays: list[np.ndarray], lengths: np.ndarray, first_frame: int) -> list[tuple]:
    """Write a chunk's blocks in index order (episode by episode, its columns in column order, each aligned), as
    add_episode lays them out; per column ``(offsets, nbytes, crc32s)``, one each per episode."""
    rows = [_row_bytes(arr) for arr in arrays]
    sizes = np.stack([lengths * r for r in rows], axis=1)  # (episodes, columns)
    padded = _padded(sizes).reshape(-1)
    rel = (np.cumsum(padded) - padded).reshape(sizes.shape)
    buf = np.zeros(int(padded.sum()), np.uint8)
    crcs = np.empty(sizes.shape, np.uint32)
    for k, (arr, row) in enumerate(zip(arrays, rows)):
        data = arr.reshape(-1).view(np.uint8) if arr.size else np.zeros(0, np.uint8)
        src = first_frame * row + np.cumsum(sizes[:, k]) - sizes[:, k]
        out = np.empty(len(lengths), np.uint32)
        run_split(_pack, len(lengths), data, src, np.ascontiguousarray(sizes[:, k]),
                  buf, np.ascontiguousarray(rel[:, k]), out)
        crcs[:, k] = out
    start, _, _ = w._write_block([memoryview(buf)] if buf.size else [], checksum=False)
    return [((start + rel[:, k]).astype(np.uint64), sizes[:, k].astype(np.uint64), crcs[:, k].copy())
            for k in range(len(arrays))]
