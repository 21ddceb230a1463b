"""What a row holds, and its size in memory, known before any frame is read.

Window rows (``windows={...}``): one per sample of ``db.sample_index(windows, ...)``, the columns of its
``read``: per key ``(W, ...)`` and ``{key}_is_pad`` ``(W,)``, plus ``episode`` and ``frame``. Their size is
that of a read of zero samples (the same dtypes and trailing shapes), times the samples.
Episode rows (``windows=None``): one per episode, its columns whole ``(T, ...)`` plus :data:`EPISODE_META`;
the size of each from where its frames live (:meth:`column_blocks`: frame counts and per-frame shapes).
Sizes are numpy ``nbytes``: a string counts its UTF-8 bytes, every other meta value its dtype's itemsize.
"""

from __future__ import annotations

import numpy as np

#: The metadata of an episode row: name -> numpy dtype (``object``: a str).
EPISODE_META = {"episode": np.int64, "episode_id": np.int64, "task": object, "embodiment": object,
                "success": np.bool_, "num_frames": np.int64, "fps": np.float64, "total_reward": np.float64}
_FIXED_META_BYTES = sum(np.dtype(t).itemsize for t in EPISODE_META.values() if t is not object)


def window_rows(db, windows: dict, positions: np.ndarray, sample_options: dict,
                read_options: dict) -> tuple[np.ndarray, int]:
    """Samples per episode of ``positions`` (in that order) and the bytes of one window row."""
    index = db.sample_index(windows, episodes=positions, **sample_options)
    empty = index.read(np.empty(0, np.int64), **read_options)
    row = sum(v.dtype.itemsize * int(np.prod(v.shape[1:], dtype=np.int64)) for v in empty.values())
    counts = np.bincount(index.sample_episodes, minlength=db.num_episodes())
    return counts[positions].astype(np.int64), int(row)


def episode_row_bytes(db, positions: np.ndarray, columns: list[str]) -> np.ndarray:
    """The bytes of each episode row of ``positions``: its ``columns`` whole (cameras decoded) plus its meta."""
    total = np.full(len(positions), _FIXED_META_BYTES, np.int64)
    if not len(positions):
        return total
    lengths = db.episode_lengths(positions)
    for name in columns:
        blocks = db.column_blocks(name, positions)
        col = blocks.column
        frames = lengths if blocks.frame_counts is None else np.asarray(blocks.frame_counts, np.int64)
        per_frame = (np.full(len(positions), int(np.prod(col.shape, dtype=np.int64))) if blocks.shapes is None
                     else np.prod(np.asarray(blocks.shapes, np.int64), axis=1))
        total += frames * per_frame * np.dtype(col.dtype).itemsize
    for k, p in enumerate(positions.tolist()):
        meta = db.read_meta(p)
        total[k] += len(meta["task"].encode()) + len(meta["embodiment"].encode())
    return total


def episode_meta(meta: dict, position: int) -> dict:
    """The meta values of one episode row (``position``: its dataset position)."""
    reward = meta["total_reward"]
    return {"episode": position, "episode_id": meta["episode_id"], "task": meta["task"],
            "embodiment": meta["embodiment"], "success": meta["success"], "num_frames": meta["num_frames"],
            "fps": meta["fps"], "total_reward": np.nan if reward is None else reward}


def row_nbytes(row: dict) -> int:
    """The size of one materialised row as counted here (arrays' nbytes, strings' UTF-8 bytes, scalars' dtype
    size; ``success`` one byte): what :func:`episode_row_bytes` and :func:`window_rows` predict."""
    total = 0
    for name, value in row.items():
        if isinstance(value, str):
            total += len(value.encode())
        elif name == "success" or isinstance(value, (bool, np.bool_)) or value is None:
            total += 1
        else:
            total += np.asarray(value).nbytes
    return total
