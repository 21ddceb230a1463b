"""Every footer a file still holds, trusted piece by piece: what salvage (format_spec.md §15.1) starts from.

A footer begins with ``FOOTER_MAGIC`` at a 64-aligned offset, so a scan of the file for that magic finds every
commit's footer, also the ones whose trailer was cut off or overwritten. Without its trailer a footer's prefix
has no checksum, so each part of it is trusted only as far as its own: a section as far as its CRC-32, an index
chunk as far as its chunk CRC, and a BLOCK row as far as the CRC-32 of the blocks it points to.

Every byte is read with ``os.pread`` and every length is checked against the file size before it is read, so
neither a cut file nor a forged footer can make this read past the end or allocate more than the file holds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import FormatError
from ..format import layout as L
from ..format.footer import chunk_checksums, prefix_length, read_footer_prefix
from ..format.frame_codec import frame_table_problem
from ..format.schema import Column, columns_from_records

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

    @property
    def rows(self) -> int:
        return 0 if self.episodes is None or self.blocks is None else len(self.episodes)


def read_footer(fb: FileBytes, path, offset: int) -> FooterRows | None:
    """The footer at ``offset``, or None when its prefix is not a plausible footer prefix."""
    head = fb.read(offset, L.FOOTER_HEADER.itemsize)
    n_prefix = prefix_length(head) if len(head) == L.FOOTER_HEADER.itemsize else None
    raw = fb.read(offset, n_prefix) if n_prefix else b""
    if not n_prefix or len(raw) < n_prefix:
        return None
    try:
        header, sections = read_footer_prefix(raw, path, offset, UNBOUNDED)
    except FormatError:
        return None
    n, c, s = int(header["num_episodes"]), int(header["num_columns"]), int(header["num_strings"])
    if n * L.EPISODE.itemsize > fb.size or c * L.COLUMN.itemsize > fb.size or s * 8 > fb.size:
        return None  # claims more records than the file has bytes
    out = FooterRows(offset, n, c, s)
    data = {}
    for i, name in enumerate(L.SECTION_NAMES):
        off, length, crc = int(sections[i]["offset"]), int(sections[i]["length"]), int(sections[i]["crc32"])
        if offset + off + length > fb.size:
            out.damaged.append(f"{name} (cut off)")
        elif name not in L.CHUNKED_SECTIONS and fb.crc(offset + off, length) != crc:
            out.damaged.append(f"{name} (CRC-32 mismatch)")
        else:
            data[name] = fb.read(offset + off, length)
    _decode_schema(out, data, path, offset + int(sections[0]["offset"]))
    if "episodes" in data and "blocks" in data:
        out.episodes = np.frombuffer(data["episodes"], L.EPISODE).copy()
        out.blocks = np.frombuffer(data["blocks"], L.BLOCK).reshape(n, c).copy()
        k = int(header["chunk_episodes"])
        if "chunk_crcs" in data:
            good = chunk_checksums(out.episodes, out.blocks, k) == np.frombuffer(data["chunk_crcs"], "<u4")
            out.chunk_ok = np.repeat(good, k)[:n]
            if not good.all():
                out.damaged.append(f"{int((~good).sum())} index chunks (chunk CRC mismatch)")
        else:
            out.chunk_ok = np.zeros(n, bool)
    out.attrs = data.get("attrs_heap")
    return out


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
    """Why row ``p`` of ``rows`` cannot be recovered (None: every field is in range and every present block lies
    in the file, before its footer, and matches its CRC-32; an lz4 block's frame table is sound too)."""
    ep = rows.episodes[p]
    t = int(ep["num_frames"])
    if not 1 <= t <= L.MAX_FRAMES or not np.isfinite(ep["fps"]) or ep["fps"] < 0 or ep["success"] > 2:
        return "its EPISODE record is out of range"
    if int(ep["flags"]) & ~L.EPISODE_HAS_REWARD or max(int(ep["task_id"]), int(ep["embodiment_id"])) >= rows.num_strings:
        return "its EPISODE record is out of range"
    if attrs_of(rows, p) is None:
        return "its attrs are lost (attrs heap damaged)"
    present = 0
    for c, col in enumerate(columns[: rows.num_columns]):
        problem = _block_problem(fb, rows, rows.blocks[p, c], col, t)
        if problem:
            return f"column {col.name!r}: {problem}"
        present += bool(rows.blocks[p, c]["flags"] & L.BLOCK_PRESENT)
    return None if present else "it has no block to verify"


def _block_problem(fb: FileBytes, rows: FooterRows, blk, col: Column, t: int) -> str | None:
    off, nbytes, crc, flags = (int(x) for x in blk.item())
    if not flags & L.BLOCK_PRESENT:
        return None if (flags, off, nbytes, crc) == (0, 0, 0, 0) else "BLOCK row is damaged"
    if flags != L.BLOCK_PRESENT or off % L.ALIGNMENT or off < L.HEADER.itemsize or off + nbytes > rows.offset:
        return f"BLOCK row is damaged (offset {off}, {nbytes} bytes)"
    lz4 = col.codec == L.CODEC_LZ4_FRAMES
    if (nbytes < 8 * (t + 1)) if lz4 else (nbytes != t * col.frame_nbytes):
        return f"BLOCK row is damaged ({nbytes} bytes for {t} frames)"
    got = fb.crc(off, nbytes)
    if got != crc:
        return f"block at byte {off} ({nbytes} bytes) fails its CRC-32 ({crc:#010x}, found {got:#010x})"
    if lz4:
        table = np.frombuffer(fb.read(off, 8 * (t + 1)), "<u8")
        problem = frame_table_problem(table, t, nbytes, col.frame_nbytes)
        if problem:
            return f"block at byte {off}: lz4 frame table with {problem}"
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
