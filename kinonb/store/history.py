"""The commits of a file, newest first: what ``kinonb.open(path, commit=k)`` and ``kinonb log`` read.

Each commit ends where the next one's bytes begin. A 1.2 edit commit names that offset (``commit_info.prev_end``),
so the walk jumps there; for a 1.0 or 1.1 commit the walk scans backward from its footer for the trailer before it
(format_spec.md §9's scan, bounded by the commit's own bytes). Every trailer found is checked as at open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from ..errors import CorruptFieldError, InvalidArgumentError
from ..format import layout as L
from ..format.commit_info import decode_commit_info
from ..format.footer import section_names
from ..format.header import check_header
from .recovery import Commit, read_at, commit_at, commit_below, find_last_commit


@dataclass(frozen=True)
class CommitRecord:
    """One commit as ``kinonb log`` lists it."""

    seq: int
    num_episodes: int
    start: int  # offset of the commit's first byte: the end of the commit before it (0 for the first)
    end: int  # offset just past its trailer
    footer_bytes: int  # its footer and trailer (the rest of nbytes is the blocks it wrote)
    minor: int
    time: float | None  # seconds since the epoch, for edit commits (1.0/1.1 commits do not record it)
    added: int  # episodes it appended
    changes: dict  # {"deleted": [positions], "relabelled": [...], "columns": {name: [...]}, "trimmed": [...]}

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    def describe(self) -> str:
        parts = [f"+{self.added} episodes"] if self.added else []
        for kind in ("deleted", "relabelled", "trimmed"):
            if self.changes.get(kind):
                parts.append(f"{kind} {len(self.changes[kind])}")
        for name, positions in sorted(self.changes.get("columns", {}).items()):
            parts.append(f"column {name!r} on {len(positions)}")
        return ", ".join(parts) or ("created" if self.seq == 1 else "no change")


def commit_info(fd: int, path, commit: Commit) -> dict | None:
    """The checked commit_info of a 1.2 edit commit, or None for a commit without one."""
    _, header, sections = commit.checked_prefix
    names = section_names(int(header["num_sections"]), commit.minor)
    if "commit_info" not in names:
        return None
    sec = sections[names.index("commit_info")]
    at = commit.footer_offset + int(sec["offset"])
    raw = read_at(fd, int(sec["length"]), at)
    if L.crc32(raw) != int(sec["crc32"]):
        raise CorruptFieldError(path, at, f"commit_info CRC-32 {int(sec['crc32']):#010x}", f"{L.crc32(raw):#010x}")
    return decode_commit_info(raw, path, at)


def previous_commit(fd: int, path, commit: Commit, major: int, info: dict | None) -> Commit | None:
    """The commit before ``commit`` (None for the first one)."""
    if info is None:
        return commit_below(fd, path, commit.footer_offset, commit.file_size, major)
    prev_end = info["prev_end"]
    found = commit_at(fd, path, prev_end - L.TRAILER.itemsize, commit.file_size, major) \
        if prev_end - L.TRAILER.itemsize >= L.HEADER.itemsize else None
    if found is None or found.end != prev_end or found.end > commit.footer_offset:
        raise CorruptFieldError(path, commit.footer_offset, f"an intact commit ending at commit_info.prev_end "
                                f"{prev_end}, before commit {commit.seq}", "none there")
    return found


def walk(fd: int, path, newest: Commit):
    """``(commit, commit_info or None)`` from ``newest`` back to the first commit."""
    major, _ = check_header(read_at(fd, L.HEADER.itemsize, 0), path, newest.file_size)
    commit = newest
    while commit is not None:
        info = commit_info(fd, path, commit)
        yield commit, info
        commit = previous_commit(fd, path, commit, major, info)


def check_commit_arg(commit) -> int:
    if isinstance(commit, bool) or not isinstance(commit, int) or commit == 0:
        raise InvalidArgumentError(f"commit must be a nonzero int (1 = the first commit, -1 = the newest, -2 = the "
                                   f"one before it), got {commit!r}")
    return commit


def find_commit(fd: int, path, k: int, newest: Commit) -> Commit:
    """Commit ``k`` of the file: its ``commit_seq`` when k > 0 (as ``kinonb log`` numbers them), counted back
    from the newest when k < 0. The commit is returned as if the file ended with it (no ignored bytes)."""
    k = check_commit_arg(k)
    for back, (commit, _) in enumerate(walk(fd, path, newest)):
        if (k < 0 and back == -k - 1) or (k > 0 and commit.seq == k):
            return replace(commit, file_size=commit.end)
        if k > 0 and commit.seq < k:
            break
    raise InvalidArgumentError(f"{path} has no commit {k}: its newest is commit {newest.seq}, and `kinonb log "
                               f"{path}` lists them all")


def history(path) -> list[CommitRecord]:
    """Every intact commit of ``path``, oldest first (``kinonb log``)."""
    path = os.fspath(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        newest, _ = find_last_commit(fd, path)
        chain = list(walk(fd, path, newest))
    finally:
        os.close(fd)
    chain.reverse()
    out, prev = [], None
    for commit, info in chain:
        start = 0 if prev is None else prev.end
        n_before = 0 if prev is None else prev.num_episodes
        if info is None:
            added, changes, time = max(0, commit.num_episodes - n_before), {}, None
        else:
            added, changes, time = info["added"], info["changes"], info["time"]
        out.append(CommitRecord(commit.seq, commit.num_episodes, start, commit.end,
                                commit.footer_length + L.TRAILER.itemsize, commit.minor, time, added, changes))
        prev = commit
    return out
