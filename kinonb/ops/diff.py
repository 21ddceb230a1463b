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

META_FIELDS = ("task", "embodiment", "fps", "success", "total_reward", "num_frames", "attrs")


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


def _fingerprints(db) -> tuple[np.ndarray, list]:
    """Per episode, its id, and a tuple of its metadata and {column: (crc32, nbytes)} of present blocks."""
    names = db.column_names()
    blocks = db.block_records()
    present = (blocks["flags"] & L.BLOCK_PRESENT) != 0
    crc, nbytes = blocks["crc32"].tolist(), blocks["nbytes"].tolist()
    ids = db.meta_table().episode_id
    prints = []
    for i in range(len(db)):
        meta = db.read_meta(i)
        cols = {names[c]: (crc[i][c], nbytes[i][c]) for c in np.flatnonzero(present[i]).tolist()}
        prints.append(({k: meta.get(k) for k in META_FIELDS}, cols))
    return ids, prints


def diff(a, b) -> Diff:
    """Compare ``a`` and ``b``: paths, open readers (``kinonb.open(path, commit=k)``) or ``(path, commit)``."""
    ids_a, fa = _fingerprints(_reader(a))
    ids_b, fb = _fingerprints(_reader(b))
    by_id: dict[int, list[int]] = {}
    for j, eid in enumerate(ids_b.tolist()):
        by_id.setdefault(eid, []).append(j)
    out = Diff()
    matched = set()
    for i, eid in enumerate(ids_a.tolist()):
        candidates = by_id.get(eid)
        if not candidates:
            out.removed.append(i)
            continue
        j = candidates.pop(0)
        matched.add(j)
        (meta_a, cols_a), (meta_b, cols_b) = fa[i], fb[j]
        what = [k for k in META_FIELDS if meta_a[k] != meta_b[k]]
        what += [f"column {n}" for n in sorted(set(cols_a) | set(cols_b)) if cols_a.get(n) != cols_b.get(n)]
        if what:
            out.changed.append((i, j, what))
        else:
            out.same += 1
    out.added = [j for j in range(len(fb)) if j not in matched]
    return out
