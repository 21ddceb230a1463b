"""Finding the last intact commit of a file (the recovery rule of format_spec.md).

The tail of a file is read with ``os.pread``, never through a memory map: a writer may truncate a torn tail
while a reader looks at it, and a read past the end of a mapping would kill the reader with SIGBUS.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import NoCommitError, RecoverableTailError
from ..format import layout as L
from ..format.footer import FOOTER_PREFIX, prefix_length, read_footer_prefix
from ..format.header import check_header
from .autocommit import DEFAULT_AUTOCOMMIT_BYTES
from .footer_scan import FileBytes
from .recovered import recover

SCAN_WINDOW = 1 << 22
#: The longest footer prefix this reader knows (format 1.2's section table).
KNOWN_PREFIX = L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * len(L.SECTION_NAMES_1_2)


@dataclass(frozen=True)
class Commit:
    footer_offset: int
    footer_length: int
    seq: int
    num_episodes: int
    minor: int
    file_size: int  # size of the file when the commit was located
    #: (raw bytes, header, sections) of the footer prefix as checked here, so that decode_footer need not again
    checked_prefix: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def end(self) -> int:
        """Length of the file up to and including this commit's trailer."""
        return self.footer_offset + self.footer_length + L.TRAILER.itemsize

    @property
    def ignored_bytes(self) -> int:
        """Bytes after this commit (a torn append or uncommitted data) that the reader ignores."""
        return self.file_size - self.end


def read_at(fd: int, n: int, offset: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), offset + len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def commit_at(fd: int, path, pos: int, file_size: int, major: int) -> Commit | None:
    """The commit whose trailer starts at ``pos``, or None if the bytes there are not an intact trailer."""
    raw = read_at(fd, L.TRAILER.itemsize, pos)
    if len(raw) < L.TRAILER.itemsize or raw[:8] != L.TRAILER_MAGIC:
        return None
    t = L.record(raw, L.TRAILER)
    if L.crc32(raw[:-4]) != int(t["crc32"]) or int(t["major"]) != major:
        return None
    fo, fl = int(t["footer_offset"]), int(t["footer_length"])
    if fo % L.ALIGNMENT or fo < L.HEADER.itemsize or fl < FOOTER_PREFIX or fo + fl != pos:
        return None
    head = read_at(fd, KNOWN_PREFIX, fo)  # the footer header and the section table of every known minor, at once
    n_prefix = prefix_length(head[: L.FOOTER_HEADER.itemsize]) if len(head) >= L.FOOTER_HEADER.itemsize else None
    if n_prefix is None or n_prefix > fl:
        return None
    prefix = head[:n_prefix] if n_prefix <= len(head) else read_at(fd, n_prefix, fo)  # a newer minor's longer table
    if len(prefix) < n_prefix or L.crc32(prefix) != int(t["footer_header_crc32"]):
        return None
    # The CRC matched: a structural error here is real corruption.
    header, sections = read_footer_prefix(prefix, path, fo, fl, int(t["minor"]))
    if int(header["num_episodes"]) != int(t["num_episodes"]):
        return None
    return Commit(fo, fl, int(t["commit_seq"]), int(t["num_episodes"]), int(t["minor"]), file_size,
                  (prefix, header, sections))


def _first_data(fd: int, lo: int, hi: int) -> int:
    """The first offset in [lo, hi) that is not in a hole of a sparse file, or hi (lo where holes are unknown)."""
    try:
        return min(os.lseek(fd, lo, os.SEEK_DATA), hi)
    except OSError as e:
        return hi if e.errno == errno.ENXIO else lo  # ENXIO: only a hole after lo


def commit_below(fd: int, path, hi: int, file_size: int, major: int) -> Commit | None:
    """The intact commit whose trailer is the highest below offset ``hi`` (a backward scan), or None."""
    first = L.HEADER.itemsize + FOOTER_PREFIX  # the earliest a trailer can start
    magic = np.frombuffer(L.TRAILER_MAGIC, "<u8")[0]
    step = SCAN_WINDOW
    while hi > first:
        lo = max(first // L.ALIGNMENT * L.ALIGNMENT, hi - step)
        data = _first_data(fd, lo, hi)
        if data >= hi:  # a hole of a sparse file holds no trailer: skip it, in ever larger steps
            hi, step = lo, step * 2
            continue
        if step > SCAN_WINDOW:  # data somewhere in a large step: look again window by window
            step = SCAN_WINDOW
            continue
        lo = max(lo, data // L.ALIGNMENT * L.ALIGNMENT)
        raw = read_at(fd, hi - lo, lo)
        rows = np.frombuffer(raw[: len(raw) // L.ALIGNMENT * L.ALIGNMENT], "<u8").reshape(-1, L.ALIGNMENT // 8)
        for r in np.flatnonzero(rows[:, 0] == magic)[::-1]:
            commit = commit_at(fd, path, lo + int(r) * L.ALIGNMENT, file_size, major)
            if commit is not None:
                return commit
        hi = lo
    return None


def find_last_commit(fd: int, path) -> tuple[Commit, int]:
    """Locate the newest intact commit. Returns (commit, header minor version)."""
    file_size = os.fstat(fd).st_size
    major, minor = check_header(read_at(fd, L.HEADER.itemsize, 0), path, file_size)
    first = L.HEADER.itemsize + FOOTER_PREFIX  # the earliest a trailer can start
    pos = (file_size - L.TRAILER.itemsize) // L.ALIGNMENT * L.ALIGNMENT
    commit = commit_at(fd, path, pos, file_size, major) if pos >= first else None
    if commit is not None:
        return commit, minor
    commit = commit_below(fd, path, pos, file_size, major)
    if commit is not None:
        return commit, minor
    raise NoCommitError(path, None, "at least one intact commit (footer + trailer)", f"none in {file_size} bytes",
                        "file seems not fully written, or it was truncated")


@dataclass(frozen=True)
class Tail:
    """What the bytes after the last intact commit hold (format_spec.md §11.2, §15.1)."""

    nbytes: int  # bytes after the commit
    recoverable: int  # episodes in them that `kinonb salvage` recovers (positions after the commit's)
    claimed: int  # episodes the newest footer in them claims beyond the commit's (0: no such footer)
    beyond_torn: bool  # more bytes than one torn append under the default auto-commit interval holds

    @property
    def at_risk(self) -> bool:
        """Whether removing the tail would lose episodes salvage recovers, or the tail is more than a torn append.
        (A later footer that indexes more episodes but none that verify is a torn or damaged commit: a warning.)"""
        return bool(self.recoverable or self.beyond_torn)

    def describe(self, path) -> str:
        what = f"{self.nbytes} bytes after the last intact commit hold data"
        if self.recoverable:
            return (f"{what} ({self.recoverable} of {max(self.claimed, self.recoverable)} episodes recoverable by "
                    f"`kinonb salvage {path} -o OUT`)")
        if self.beyond_torn:
            return f"{what}: more than a torn append holds, and no intact footer row indexes it"
        if self.claimed:
            return (f"{self.nbytes} bytes after the last intact commit: a torn or damaged footer of a later commit "
                    f"indexes {self.claimed} more episodes, none of them recoverable")
        return f"{self.nbytes} bytes after the last intact commit (torn append)"


def inspect_tail(fd: int, path, commit: Commit) -> Tail:
    """Scan the bytes after ``commit`` for later footers and count the episodes salvage would recover there."""
    if commit.ignored_bytes <= 0:
        return Tail(0, 0, 0, False)
    rec = recover(FileBytes(fd, commit.file_size), path, lo=commit.end, first=commit.num_episodes)
    footer = commit.footer_length + L.TRAILER.itemsize
    torn = 2 * max(DEFAULT_AUTOCOMMIT_BYTES, footer) + 2 * footer
    return Tail(commit.ignored_bytes, len(rec.positions), max(0, rec.known - commit.num_episodes),
                commit.ignored_bytes > torn)


def refuse_recoverable_tail(fd: int, path, commit: Commit, what: str) -> Tail:
    """Raise RecoverableTailError when the bytes after ``commit`` hold episodes salvage can recover."""
    tail = inspect_tail(fd, path, commit)
    if tail.recoverable:
        raise RecoverableTailError(path, commit.end, f"only a torn append after commit {commit.seq} for {what} "
                                   "to remove", tail.describe(path), "salvage them first; `kinonb.repair(path, "
                                   "force=True)` (`kinonb validate --repair --force`) removes them anyway")
    return tail
