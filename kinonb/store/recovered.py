"""The episode index salvage rebuilds: for every episode position, the newest footer row that still verifies.

Every commit's footer indexes every episode written so far, so an episode is described by its own commit's
footer and by every later one. :func:`recover` scans all of them (``footer_scan.py``), takes the schema of the
newest footer with intact column and string tables (columns and strings are append-only, so older footers hold
a prefix of it), and for each position keeps the newest row whose blocks all match their CRC-32. Positions no
footer describes intact are lost, each with the reason its newest row gave.
"""

from __future__ import annotations

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

    @property
    def lost_count(self) -> int:
        return sum(b - a + 1 for a, b, _ in self.lost)


def recover(fb: FileBytes, path, *, lo: int = 0, first: int = 0) -> Recovered:
    """Rebuild the index from every footer at or after byte ``lo``, for the positions from ``first`` on."""
    offsets, counted = footer_offsets(fb, lo)
    footers = [r for r in (read_footer(fb, path, o) for o in offsets) if r is not None]
    schema = [r for r in footers if r.columns is not None]
    if not schema:
        out = Recovered([], [], [], np.zeros(0, L.EPISODE), np.zeros((0, 0), L.BLOCK), b"", 0, footers=len(footers))
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


def _consistent(r: FooterRows, best: FooterRows) -> bool:
    if r.num_columns > best.num_columns or r.num_strings > best.num_strings:
        return False
    return r.columns is None or (r.columns == best.columns[: r.num_columns]
                                 and r.strings == best.strings[: r.num_strings])


def _choose_rows(fb: FileBytes, out: Recovered, usable: list[FooterRows], first: int) -> None:
    """For each position from ``first``: the newest footer row that verifies and follows the previous one."""
    c = len(out.columns)
    have = max((r.rows for r in usable), default=0)
    episodes, blocks, heap, prev_end, heap_len = [], [], [], 0, 0
    for p in range(first, have):
        reason = None
        for r in usable:  # newest first
            if r.rows <= p:
                continue
            problem = row_problem(fb, r, p, out.columns, out.strings)
            start, end = _extent(r.blocks[p])
            if problem is None and start < prev_end:
                problem = f"its blocks overlap the previous episode's (byte {start} < {prev_end})"
            if problem is None:
                row = np.zeros(c, L.BLOCK)
                row[: r.num_columns] = r.blocks[p]
                rec = r.episodes[p].copy()
                blob = attrs_of(r, p)
                rec["attrs_offset"], heap_len = heap_len, heap_len + len(blob)
                episodes.append(rec), blocks.append(row), heap.append(blob), out.positions.append(p)
                prev_end = end
                break
            reason = reason or problem
        else:
            _lose(out, p, reason or "no footer row describes it")
    if out.known > max(have, first):
        _lose(out, max(have, first), "no footer row describes it (the index section is damaged or cut off)",
              last=out.known - 1)
    _install(out, episodes, blocks, heap)


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


def _install(out: Recovered, episodes: list, blocks: list, heap: list) -> None:
    n, c = len(episodes), len(out.columns)
    out.episodes = np.array(episodes, L.EPISODE) if n else np.zeros(0, L.EPISODE)
    out.blocks = np.array(blocks, L.BLOCK).reshape(n, c) if n else np.zeros((0, c), L.BLOCK)
    if n:
        frames = out.episodes["num_frames"].astype(np.uint64)
        out.episodes["frame_start"][1:] = np.cumsum(frames[:-1])
        out.episodes["frame_start"][0] = 0
    out.attrs = b"".join(heap)
