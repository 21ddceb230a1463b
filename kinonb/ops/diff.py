"""``diff``: which episodes two .knb files, or two commits of one, have added, removed and changed.

Episodes are matched by ``episode_id`` (the k-th episode with an id in A with the k-th with that id in B), and a
matched pair is changed when its metadata (task, embodiment, fps, success, total_reward, attrs, frame count)
or any column's block (CRC-32 and length, as the footer records them) differs. No frame is read: a diff of two
commits of a 1M-episode file costs two footers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..format import layout as L
from ..interop.opener import open as open_db



@dataclass
class Diff:
    added: list = field(default_factory=list)  # positions in B
    removed: list = field(default_factory=list)  # positions in A
    changed: list = field(default_factory=list)  # (position in A, position in B, [what differs])
    same: int = 0

    def as_dict(self) -> dict:
        return {"added": self.added, "removed": self.removed, "same": self.same,
                "changed": [{"a": a, "b": b, "fields": f} for a, b, f in self.changed]}


def _reader(x):
    if isinstance(x, tuple):  # (path, commit)
        return open_db(x[0], commit=x[1])
    return open_db(x) if not hasattr(x, "read_meta") else x


class _Side:
    """One file or commit as diff compares it: the footer's tables, strings and attrs heap."""

    def __init__(self, db):
        self.episodes, self.blocks, self.heap = db.index_tables()
        self.names = db.column_names()
        self.strings = np.asarray(db.meta_table().strings, dtype=object)
        self.present = (self.blocks["flags"] & L.BLOCK_PRESENT) != 0

    def text(self, field: str, rows: np.ndarray) -> np.ndarray:
        ids = self.episodes[field][rows].astype(np.int64)
        return self.strings[ids] if len(self.strings) else np.zeros(len(rows), object)

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """(crc32, nbytes) per row, (-1, -1) where the episode has no such block."""
        out = np.full((len(rows), 2), -1, np.int64)
        if name in self.names:
            c = self.names.index(name)
            here = self.present[rows, c]
            out[here, 0] = self.blocks["crc32"][rows, c][here]
            out[here, 1] = self.blocks["nbytes"][rows, c][here].astype(np.int64)
        return out

    def attrs(self, rows: np.ndarray) -> list:
        off, length = self.episodes["attrs_offset"][rows].tolist(), self.episodes["attrs_length"][rows].tolist()
        return [self.heap[o : o + n] for o, n in zip(off, length)]


def _matched(ids_a: list, ids_b: list) -> tuple[np.ndarray, np.ndarray]:
    by_id: dict[int, list[int]] = {}
    for j, eid in enumerate(ids_b):
        by_id.setdefault(eid, []).append(j)
    ia, ib = [], []
    for i, eid in enumerate(ids_a):
        candidates = by_id.get(eid)
        if candidates:
            ia.append(i)
            ib.append(candidates.pop(0))
    return np.asarray(ia, np.int64), np.asarray(ib, np.int64)


def _differences(a: _Side, b: _Side, ia: np.ndarray, ib: np.ndarray) -> dict:
    """``{what: bool mask over the matched pairs}``: where each field or column differs."""
    ea, eb = a.episodes[ia], b.episodes[ib]
    reward_a, reward_b = (ea["flags"] & L.EPISODE_HAS_REWARD) != 0, (eb["flags"] & L.EPISODE_HAS_REWARD) != 0
    out = {
        "task": a.text("task_id", ia) != b.text("task_id", ib),
        "embodiment": a.text("embodiment_id", ia) != b.text("embodiment_id", ib),
        "fps": ea["fps"] != eb["fps"],
        "success": ea["success"] != eb["success"],
        "total_reward": (reward_a != reward_b) | (reward_a & (ea["total_reward"] != eb["total_reward"])),
        "num_frames": ea["num_frames"] != eb["num_frames"],
        "attrs": np.array([x != y for x, y in zip(a.attrs(ia), b.attrs(ib))], bool),
    }
    for name in sorted(set(a.names) | set(b.names)):
        out[f"column {name}"] = (a.column(name, ia) != b.column(name, ib)).any(axis=1)
    return out


def diff(a, b) -> Diff:
    """Compare ``a`` and ``b``: paths, open readers (``kinonb.open(path, commit=k)``) or ``(path, commit)``."""
    sa, sb = _Side(_reader(a)), _Side(_reader(b))
    ia, ib = _matched(sa.episodes["episode_id"].tolist(), sb.episodes["episode_id"].tolist())
    masks = _differences(sa, sb, ia, ib) if len(ia) else {}
    changed = np.zeros(len(ia), bool)
    for mask in masks.values():
        changed |= mask
    out = Diff(same=int((~changed).sum()))
    for k in np.flatnonzero(changed).tolist():
        out.changed.append((int(ia[k]), int(ib[k]), [what for what, mask in masks.items() if mask[k]]))
    out.removed = np.setdiff1d(np.arange(len(sa.episodes)), ia).tolist()
    out.added = np.setdiff1d(np.arange(len(sb.episodes)), ib).tolist()
    return out
