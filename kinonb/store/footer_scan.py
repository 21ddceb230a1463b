"""Every footer a file still holds, trusted piece by piece: what salvage (format_spec.md §15.1) starts from.

A footer begins with ``FOOTER_MAGIC`` at a 64-aligned offset, so a scan of the file for that magic finds every
commit's footer, also the ones whose trailer was cut off or overwritten. Without its trailer a footer's prefix
has no checksum, so each part of it is trusted only as far as its own: a section as far as its CRC-32, an index
chunk as far as its chunk CRC, and a BLOCK row as far as the CRC-32 of the blocks it points to.

Format 1.1 footers (9 sections: ``block_shapes`` after the 1.0 ones; 1.2 edit commits: 10, ``commit_info`` last)
are recognised without their trailer, whose
minor may be lost: a prefix whose 9th SECTION record passes the checks is a 1.1 one. Its chunk CRCs then cover the
chunk's BLOCK_SHAPE rows too, and a row is checked with the reader's own index checks (``EpisodeIndex``) on
that row alone, so per-block frame counts and shapes, jpeg and video blocks are checked as the reader checks them.

Every byte is read with ``os.pread`` and every length is checked against the file size before it is read, so
neither a cut file nor a forged footer can make this read past the end or allocate more than the file holds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..codecs.registry import block_table
from ..errors import FormatError
from ..format import layout as L
from ..format.commit_info import decode_commit_info
from ..format.footer import Footer, chunk_checksums, prefix_length, read_footer_prefix, section_names
from ..format.schema import Column, columns_from_records
from .episode_index import EpisodeIndex

SCAN_WINDOW = 1 << 22
UNBOUNDED = 1 << 62  # footer_length for read_footer_prefix: sections are bounded by the file size here instead


class FileBytes:
    """A file read by ``pread`` within the ``size`` it had when salvage or validate looked at it."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size = fd, size
        self._crcs: dict[tuple[int, int], int] = {}

    def read(self, offset: int, n: int) -> bytes:
        n = max(0, min(n, self.size - offset))
        out = bytearray()
        while len(out) < n:
            chunk = os.pread(self.fd, n - len(out), offset + len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def crc(self, offset: int, n: int) -> int | None:
        """CRC-32 of bytes [offset, offset + n), None when they are not all in the file (cached)."""
        if offset < 0 or n < 0 or offset + n > self.size:
            return None
        key = (offset, n)
        if key not in self._crcs:
            crc, done = 0, 0
            while done < n:
                raw = self.read(offset + done, min(SCAN_WINDOW, n - done))
                if not raw:
                    return None
                crc, done = L.crc32(raw, crc), done + len(raw)
            self._crcs[key] = crc
        return self._crcs[key]


def footer_offsets(fb: FileBytes, lo: int) -> tuple[list[int], int]:
    """The 64-aligned offsets at or after ``lo`` whose first 8 bytes are ``FOOTER_MAGIC``, newest (highest) first,
    and the most episodes any trailer there with a matching CRC-32 counts (its footer may be gone)."""
    magics = np.frombuffer(L.FOOTER_MAGIC + L.TRAILER_MAGIC, "<u8")
    found, counted = [], 0
    hi = fb.size // L.ALIGNMENT * L.ALIGNMENT
    lo = L.align_up(max(lo, L.HEADER.itemsize))
    while hi > lo:
        start = max(lo, hi - SCAN_WINDOW)
        raw = fb.read(start, hi - start)
        rows = np.frombuffer(raw[: len(raw) // L.ALIGNMENT * L.ALIGNMENT], "<u8").reshape(-1, L.ALIGNMENT // 8)
        found.extend(start + int(r) * L.ALIGNMENT for r in np.flatnonzero(rows[:, 0] == magics[0])[::-1])
        for r in np.flatnonzero(rows[:, 0] == magics[1]):
            t = raw[int(r) * L.ALIGNMENT : (int(r) + 1) * L.ALIGNMENT]
            if L.crc32(t[:-4]) == int(np.frombuffer(t, L.TRAILER, count=1)[0]["crc32"]):
                counted = max(counted, int(np.frombuffer(t, L.TRAILER, count=1)[0]["num_episodes"]))
        hi = start
    return found, counted


@dataclass
class FooterRows:
    """What one footer still says: its schema (when intact), its index rows and which of them a chunk CRC covers."""

    offset: int
    claimed: int  # FOOTER_HEADER.num_episodes (unverified)
    num_columns: int
    num_strings: int
    columns: list[Column] | None = None
    strings: list[str] | None = None
    episodes: np.ndarray | None = None  # EPISODE (N,), when the section lies in the file
    blocks: np.ndarray | None = None  # BLOCK (N, C)
    chunk_ok: np.ndarray | None = None  # bool (N,): the row's index chunk matches its CRC
    attrs: bytes | None = None  # the attrs heap, when its CRC matches
    damaged: list[str] = field(default_factory=list)  # "section (why)" for every section not usable
    has_shapes: bool = False  # a 1.1 footer with a block_shapes section (9 sections)
    edit: bool = False  # a 1.2 edit commit's footer (commit_info): positions before it meant other episodes
    added: int | None = None  # an edit commit's commit_info.added (None: not an edit, or its commit_info is damaged)
    block_shapes: np.ndarray | None = None  # BLOCK_SHAPE (N, C), or its first rows when the file ends inside it
    at: dict = field(default_factory=dict)  # absolute file offset of each section
    chunk: int = 1  # FOOTER_HEADER.chunk_episodes
    index: EpisodeIndex | None = None  # the reader's index over the rows (row_problem builds it)
    bad_chunks: set = field(default_factory=set)  # chunks of ``index`` that fail its checks (-1: no index)

    @property
    def rows(self) -> int:
        return 0 if self.episodes is None or self.blocks is None else len(self.episodes)


def _prefix(fb: FileBytes, path, offset: int):
    """(header, sections, names) of the footer prefix at ``offset``, or None when it is not a plausible one.

    The trailer, which declares the minor version, may be lost: a prefix of 9 or more sections is read as a 1.1
    footer (section 8 = block_shapes) when its 9th record passes the SECTION checks, else as a 1.0 one."""
    head = fb.read(offset, L.FOOTER_HEADER.itemsize)
    n_prefix = prefix_length(head) if len(head) == L.FOOTER_HEADER.itemsize else None
    raw = fb.read(offset, n_prefix) if n_prefix else b""
    if not n_prefix or len(raw) < n_prefix:
        return None
    num_sections = int(np.frombuffer(raw, L.FOOTER_HEADER, count=1)[0]["num_sections"])
    minors = (2, 1, 0) if num_sections >= len(L.SECTION_NAMES_1_2) else (1, 0) if num_sections > len(
        L.SECTION_NAMES) else (0,)
    for minor in minors:
        try:
            header, sections = read_footer_prefix(raw, path, offset, UNBOUNDED, minor)
        except FormatError:
            continue
        return header, sections, section_names(num_sections, minor)
    return None


def read_footer(fb: FileBytes, path, offset: int) -> FooterRows | None:
    """The footer at ``offset``, or None when its prefix is not a plausible footer prefix."""
    prefix = _prefix(fb, path, offset)
    if prefix is None:
        return None
    header, sections, names = prefix
    n, c, s = int(header["num_episodes"]), int(header["num_columns"]), int(header["num_strings"])
    if n * L.EPISODE.itemsize > fb.size or c * L.COLUMN.itemsize > fb.size or s * 8 > fb.size:
        return None  # claims more records than the file has bytes
    shapes_count = int(sections[names.index("block_shapes")]["count"]) if "block_shapes" in names else 0
    out = FooterRows(offset, n, c, s, has_shapes=shapes_count > 0 or ("block_shapes" in names and not n * c),
                     edit="commit_info" in names)
    data = {}
    for i, name in enumerate(names):
        off, length, crc = int(sections[i]["offset"]), int(sections[i]["length"]), int(sections[i]["crc32"])
        out.at[name] = offset + off
        if name == "block_shapes" and not out.has_shapes:
            continue  # a 1.2 edit commit without per-block shapes
        if name == "block_shapes" and offset + off + length > fb.size:  # the last section: keep its whole rows
            rows = max(0, fb.size - offset - off) // (c * L.BLOCK_SHAPE.itemsize) if c else 0
            data[name] = fb.read(offset + off, rows * c * L.BLOCK_SHAPE.itemsize)
            out.damaged.append(f"{name} (cut off after {rows} episodes' rows)")
        elif offset + off + length > fb.size:
            out.damaged.append(f"{name} (cut off)")
        elif name not in L.CHUNKED_SECTIONS and fb.crc(offset + off, length) != crc:
            out.damaged.append(f"{name} (CRC-32 mismatch)")
        else:
            data[name] = fb.read(offset + off, length)
    _decode_schema(out, data, path, out.at["columns"])
    if "episodes" in data and "blocks" in data:
        out.chunk = int(header["chunk_episodes"])
        _decode_index(out, data, out.chunk)
    out.attrs = data.get("attrs_heap")
    if "commit_info" in data:
        try:
            out.added = decode_commit_info(data["commit_info"], path, out.at["commit_info"])["added"]
        except FormatError:
            out.damaged.append("commit_info (not a valid commit_info object)")
    return out


def _decode_index(out: FooterRows, data: dict, k: int) -> None:
    """The footer's EPISODE, BLOCK (and BLOCK_SHAPE) rows, and which chunks match their chunk CRC."""
    n, c = out.claimed, out.num_columns
    out.episodes = np.frombuffer(data["episodes"], L.EPISODE).copy()
    out.blocks = np.frombuffer(data["blocks"], L.BLOCK).reshape(n, c).copy()
    if "block_shapes" in data:  # all N rows, or (a cut file) the first ones
        shapes = np.frombuffer(data["block_shapes"], L.BLOCK_SHAPE)
        out.block_shapes = shapes.reshape(len(shapes) // c if c else n, c).copy()
    whole = out.block_shapes is not None and len(out.block_shapes) == n
    if "chunk_crcs" in data and out.has_shapes == whole:
        got = chunk_checksums(out.episodes, out.blocks, k, block_shapes=out.block_shapes)
        good = got == np.frombuffer(data["chunk_crcs"], "<u4")
        out.chunk_ok = np.repeat(good, k)[:n]
        if not good.all():
            out.damaged.append(f"{int((~good).sum())} index chunks (chunk CRC mismatch)")
    else:
        out.chunk_ok = np.zeros(n, bool)


def _decode_schema(out: FooterRows, data: dict, path, columns_at: int) -> None:
    if not {"columns", "string_offsets", "string_heap"} <= data.keys():
        return
    offsets = np.frombuffer(data["string_offsets"], "<u8").astype(np.int64)
    heap = data["string_heap"]
    if len(offsets) == 0 or offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != len(heap):
        out.damaged.append("string_offsets (not a string table)")
        return
    try:
        strings = [heap[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        columns = columns_from_records(np.frombuffer(data["columns"], L.COLUMN), strings, path, columns_at)
    except (UnicodeDecodeError, FormatError) as e:
        out.damaged.append(f"columns ({e})")
        return
    out.columns, out.strings = columns, strings


def row_problem(fb: FileBytes, rows: FooterRows, p: int, columns: list[Column], strings: list[str]) -> str | None:
    """Why row ``p`` of ``rows`` cannot be recovered, checked against ``columns`` (the schema when that footer was
    written). None: the reader's own index checks pass on the row (``EpisodeIndex``: EPISODE fields, block sizes
    from the per-block frame counts and shapes, BLOCK_SHAPE rows), every present block lies in the file before
    that footer and matches its CRC-32, and a compressed camera block passes its codec's check."""
    if attrs_of(rows, p) is None:
        return "its attrs are lost (attrs heap damaged)"
    try:
        index, q = _checked_index(rows, p, columns, strings[: rows.num_strings])
    except FormatError as e:
        return f"its index row is damaged (at byte {e.offset}: expected {e.expected}, found {e.found})"
    present = np.flatnonzero(index.blocks[q]["flags"] & L.BLOCK_PRESENT)
    for c in present.tolist():
        problem = _block_problem(fb, index, q, c)
        if problem:
            return f"column {columns[c].name!r}: {problem}"
    return None if len(present) else "it has no block to verify"


def _checked_index(rows: FooterRows, p: int, columns: list[Column], strings: list[str]):
    """(index, row) with row ``p`` checked by the reader's index checks, chunk CRC aside (the block CRCs vouch
    for a row instead, §15.1 step 2): one index over the footer's rows, checked a chunk at a time (vectorised),
    and an index over row ``p`` alone when its chunk fails. FormatError when the row fails."""
    k = p // rows.chunk
    if rows.index is None and not rows.bad_chunks:
        m = rows.rows if rows.block_shapes is None else min(rows.rows, len(rows.block_shapes))
        try:
            rows.index = _index(rows, 0, m, columns, strings)
        except FormatError:
            rows.bad_chunks.add(-1)  # no index over the whole footer (a per-block column without its rows)
    if rows.index is not None and p < rows.index.n and k not in rows.bad_chunks:
        try:
            rows.index.ensure(p)
            return rows.index, p
        except FormatError:
            rows.bad_chunks.add(k)
    index = _index(rows, p, p + 1, columns, strings, alone=True)
    index.ensure(0)
    return index, 0


def _index(rows: FooterRows, a: int, b: int, columns: list[Column], strings: list[str], *,
           alone: bool = False) -> EpisodeIndex:
    """The reader's EpisodeIndex over rows [a, b) of ``rows``, with chunk CRCs recomputed (``alone``: one row
    in a chunk of its own, its frame_start, which salvage rewrites, taken as 0)."""
    c = len(columns)
    episodes, blocks = rows.episodes[a:b], rows.blocks[a:b]
    shapes = None if rows.block_shapes is None or b > len(rows.block_shapes) else rows.block_shapes[a:b]
    at = dict(rows.at, episodes=rows.at["episodes"] + a * L.EPISODE.itemsize,
              blocks=rows.at["blocks"] + a * c * L.BLOCK.itemsize)
    if "block_shapes" in at:
        at["block_shapes"] += a * c * L.BLOCK_SHAPE.itemsize
    chunk = 1 if alone else rows.chunk
    if alone:
        episodes = episodes.copy()
        episodes["frame_start"] = 0
    footer = Footer(columns=columns, strings=strings, episodes=episodes, blocks=blocks,
                    attrs_heap=np.frombuffer(rows.attrs or b"", np.uint8), stats=np.zeros(c, L.STAT),
                    num_frames=0, chunk_episodes=chunk, section_offsets=at, block_shapes=shapes,
                    chunk_crcs=chunk_checksums(episodes, blocks, chunk, block_shapes=shapes))
    return EpisodeIndex("salvage", footer, rows.offset)


def _block_problem(fb: FileBytes, index: EpisodeIndex, q: int, c: int) -> str | None:
    off, nbytes, crc, _ = (int(x) for x in index.blocks[q, c].item())
    got = fb.crc(off, nbytes)
    if got != crc:
        found = "none: cut off" if got is None else f"{got:#010x}"
        return f"block at byte {off} ({nbytes} bytes) fails its CRC-32 ({crc:#010x}, found {found})"
    codec = index.columns[c].codec
    if codec == L.CODEC_RAW:
        return None
    block = np.frombuffer(fb.read(off, nbytes), np.uint8)  # in the file: the CRC above read all of it
    _, problem = block_table(codec, block, 0, nbytes, index.block_frames(q, c), index.block_shape(q, c))
    if problem:
        at, expected, found = problem
        return f"block at byte {off + at}: expected {expected}, found {found}"
    return None


def attrs_of(rows: FooterRows, p: int) -> bytes | None:
    """Row ``p``'s attrs JSON bytes (b"" for none), or None when they cannot be read back as a JSON object."""
    off, length = int(rows.episodes[p]["attrs_offset"]), int(rows.episodes[p]["attrs_length"])
    if length == 0:
        return b""
    if rows.attrs is None or off + length > len(rows.attrs):
        return None
    blob = rows.attrs[off : off + length]
    try:
        return blob if isinstance(json.loads(blob.decode("utf-8")), dict) else None
    except (UnicodeDecodeError, ValueError):
        return None
