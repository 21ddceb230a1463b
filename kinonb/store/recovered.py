"""The episode index salvage rebuilds: for every episode position, the newest footer row that still verifies.

Every commit's footer indexes every episode written so far, so an episode is described by its own commit's
footer and by every later one. :func:`recover` scans all of them (``footer_scan.py``), takes the schema of the
newest footer with intact column and string tables (columns and strings are append-only, so older footers hold
a prefix of it), and for each position keeps the newest row whose blocks all match their CRC-32. Positions no
footer describes intact are lost, each with the reason its newest row gave.

Format 1.2: an edit commit deletes, trims or relabels, so a position in a footer before it may be another
episode; only the newest edit commit's footer and the footers after it are used.

Format 1.1: a later commit may set a column's per-block flags (COLUMN_VARIABLE_SHAPE, COLUMN_OWN_FRAMES), and
the writer may record a cast (COLUMN_CAST) later, so schemas are compared without the flags, and each row is
checked against the columns of its own footer. Every chosen row gets a BLOCK_SHAPE row: its footer's, or, for a
column that was not per-block there (a 1.0-style footer), the episode's frame count and the column's shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..format import layout as L
from ..format.schema import Column
from .footer_scan import (
    FileBytes,
    FooterRows,
    attrs_of,
    footer_offsets,
    read_footer,
    row_problem,
)


@dataclass
class Recovered:
    columns: list[Column]
    strings: list[str]
    positions: list[int]  # original positions of the recovered episodes, ascending
    episodes: np.ndarray  # EPISODE (n,): frame_start and attrs_offset rewritten for the new attrs heap
    blocks: np.ndarray  # BLOCK (n, C), widened with absent blocks for columns added after a row's footer
    attrs: bytes
    known: int  # episodes the file held: the most any consistent footer claims
    lost: list = field(default_factory=list)  # (first position, last position, reason), ascending
    footers: int = 0  # footers found and parsed
    notes: list = field(default_factory=list)
    block_shapes: np.ndarray | None = None  # BLOCK_SHAPE (n, C), one per row of ``blocks``

    @property
    def lost_count(self) -> int:
        return sum(b - a + 1 for a, b, _ in self.lost)


def recover(fb: FileBytes, path, *, lo: int = 0, first: int = 0) -> Recovered:
    """Rebuild the index from every footer at or after byte ``lo``, for the positions from ``first`` on."""
    offsets, counted = footer_offsets(fb, lo)
    footers = [r for r in (read_footer(fb, path, o) for o in offsets) if r is not None]
    edits = [k for k, r in enumerate(footers) if r.edit]
    if edits:  # an edit commit renumbers positions: only its footer and later ones describe today's episodes
        footers = footers[edits[-1]:]
        edit = footers[0]
        if first:  # positions counted from the commit before it: the edit's own appends are its last `added`
            first = min(first, edit.claimed - edit.added) if edit.added is not None else 0
    schema = [r for r in footers if r.columns is not None]
    if not schema:
        out = Recovered([], [], [], np.zeros(0, L.EPISODE), np.zeros((0, 0), L.BLOCK), b"", 0, footers=len(footers),
                        block_shapes=np.zeros((0, 0), L.BLOCK_SHAPE))
        known = max([r.claimed for r in footers] + [counted])
        if known > first:
            out.known = known
            out.lost.append((first, known - 1, "no footer with intact column and string tables"))
        return out
    best = max(schema, key=lambda r: (r.num_columns, r.num_strings, r.offset))
    usable = [r for r in footers if _consistent(r, best)]
    out = Recovered(best.columns, best.strings, [], np.zeros(0, L.EPISODE), np.zeros((0, 0), L.BLOCK), b"",
                    max([r.claimed for r in usable] + [counted]), footers=len(footers))
    if len(usable) < len(footers):
        out.notes.append(f"{len(footers) - len(usable)} footer candidates disagree with the newest schema: ignored")
    _choose_rows(fb, out, usable, first)
    return out


PER_BLOCK = L.COLUMN_VARIABLE_SHAPE | L.COLUMN_OWN_FRAMES


def _unflagged(col: Column) -> Column:
    return dataclasses.replace(col, flags=0, source_dtype=None)


def _consistent(r: FooterRows, best: FooterRows) -> bool:
    if r.num_columns > best.num_columns or r.num_strings > best.num_strings:
        return False
    if r.columns is None:
        return True
    same = [_unflagged(a) for a in r.columns] == [_unflagged(b) for b in best.columns[: r.num_columns]]
    return same and r.strings == best.strings[: r.num_strings]


def _row_columns(r: FooterRows, columns: list[Column]) -> list[Column]:
    """The columns row ``r`` was written against: its own footer's, else the newest ones (without per-block
    flags when that footer has no block_shapes section: none of its columns had them then)."""
    if r.columns is not None:
        return r.columns
    cols = columns[: r.num_columns]
    return cols if r.has_shapes else [dataclasses.replace(c, flags=c.flags & ~PER_BLOCK) for c in cols]


def _shape_row(r: FooterRows, p: int, cols: list[Column], width: int) -> np.ndarray:
    """Row ``p``'s BLOCK_SHAPE row, ``width`` columns wide: its footer's for per-block columns, else the
    episode's frame count and the column's shape (zeros for absent blocks, as a writer fills them)."""
    row = np.zeros(width, L.BLOCK_SHAPE)
    t = int(r.episodes[p]["num_frames"])
    for c, col in enumerate(cols):
        if not r.blocks[p, c]["flags"] & L.BLOCK_PRESENT:
            continue
        if col.per_block:
            row[c] = r.block_shapes[p, c]
        else:
            row[c]["num_frames"] = t
            row[c]["shape"][: len(col.shape)] = col.shape
    return row


def _choose_rows(fb: FileBytes, out: Recovered, usable: list[FooterRows], first: int) -> None:
    """For each position from ``first``: the newest footer row that verifies and follows the previous one."""
    c = len(out.columns)
    have = max((r.rows for r in usable), default=0)
    cols = [_row_columns(r, out.columns) for r in usable]
    chosen, prev_end = [], 0
    for p in range(first, have):
        reason = None
        for r, rc in zip(usable, cols):  # newest first
            if r.rows <= p:
                continue
            problem = row_problem(fb, r, p, rc, out.strings)
            start, end = _extent(r.blocks[p])
            if problem is None and start < prev_end:
                problem = f"its blocks overlap the previous episode's (byte {start} < {prev_end})"
            if problem is None:
                row = np.zeros(c, L.BLOCK)
                row[: r.num_columns] = r.blocks[p]
                chosen.append((r.episodes[p].copy(), row, _shape_row(r, p, rc, c), attrs_of(r, p)))
                out.positions.append(p)
                prev_end = end
                break
            reason = reason or problem
        else:
            _lose(out, p, reason or "no footer row describes it")
    if out.known > max(have, first):
        _lose(out, max(have, first), "no footer row describes it (the index section is damaged or cut off)",
              last=out.known - 1)
    _install(out, chosen)


def _extent(row: np.ndarray) -> tuple[int, int]:
    present = (row["flags"] & L.BLOCK_PRESENT) != 0
    if not present.any():
        return 1 << 62, 0
    off = row["offset"][present].astype(np.int64)
    return int(off.min()), int((off + row["nbytes"][present].astype(np.int64)).max())


def _lose(out: Recovered, p: int, reason: str, *, last: int | None = None) -> None:
    last = p if last is None else last
    if out.lost and out.lost[-1][2] == reason and out.lost[-1][1] == p - 1:
        out.lost[-1] = (out.lost[-1][0], last, reason)
    else:
        out.lost.append((p, last, reason))


def _install(out: Recovered, chosen: list) -> None:
    """Set the rebuilt tables from the chosen (EPISODE, BLOCK row, BLOCK_SHAPE row, attrs bytes) in order."""
    n, c = len(chosen), len(out.columns)
    out.episodes = np.zeros(n, L.EPISODE)
    out.blocks, out.block_shapes = np.zeros((n, c), L.BLOCK), np.zeros((n, c), L.BLOCK_SHAPE)
    heap_len = 0
    for i, (rec, row, shape_row, blob) in enumerate(chosen):
        out.episodes[i], out.blocks[i], out.block_shapes[i] = rec, row, shape_row
        out.episodes[i]["attrs_offset"], heap_len = heap_len, heap_len + len(blob)
    if n:
        frames = out.episodes["num_frames"].astype(np.uint64)
        out.episodes["frame_start"][1:] = np.cumsum(frames[:-1])
        out.episodes["frame_start"][0] = 0
    out.attrs = b"".join(blob for *_, blob in chosen)
