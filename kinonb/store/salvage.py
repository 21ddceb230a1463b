"""``salvage``: copy every episode whose bytes survive from a cut or damaged .knb file into a new, valid one.

The index comes from every footer the file still holds (``recovered.py``), the blocks are verified against
their CRC-32 before they are used, and the episodes are read back through the reader's own decode path
(:class:`SalvagedView` is a :class:`Database` over the rebuilt index) and written with the public writer, in
their original position order, keeping ids, metadata, attrs and each column's dtype and codec.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, WriterLockedError
from ..format import layout as L
from ..format.footer import Footer, chunk_checksums
from .footer_scan import FileBytes
from .reader import Database
from .recovered import Recovered, recover
from .recovery import Commit
from .report import Report
from .transfer import episode_kwargs, write_episodes

#: exit status of ``kinonb salvage`` when episodes were lost (0: every episode the file held was recovered).
EXIT_LOST = 1


class SalvagedView(Database):
    """A read-only Database over a rebuilt index (``Recovered``) and the source file's bytes ``buf``."""

    def __init__(self, path, rec: Recovered, buf: np.ndarray):
        self._path, self._access = Path(os.fspath(path)), "normal"
        c = len(rec.columns)
        heap = np.frombuffer(rec.attrs, np.uint8)
        footer = Footer(columns=rec.columns, strings=rec.strings, episodes=rec.episodes, blocks=rec.blocks,
                        attrs_heap=heap, stats=np.zeros(c, L.STAT),
                        num_frames=int(rec.episodes["num_frames"].astype(np.int64).sum()),
                        chunk_crcs=chunk_checksums(rec.episodes, rec.blocks, L.CHUNK_EPISODES),
                        section_offsets=dict.fromkeys(L.SECTION_NAMES, 0), attrs_crc32=L.crc32(heap))
        self._commit = Commit(len(buf), 0, 0, len(rec.episodes), 0, len(buf) + L.TRAILER.itemsize)
        self._minor, self._mm, self._buf = 0, None, buf
        self._use_footer(footer, len(buf))

    def refresh(self) -> bool:
        return False


def salvage(src, dst, *, overwrite: bool = False, progress=None) -> Report:
    """Recover every episode of ``src`` whose bytes survive into the new file ``dst``; return the report.

    Works on a file cut anywhere or damaged anywhere: it uses every footer the file holds (older commits' ones
    too), each section and index chunk as far as its own CRC, and every block's CRC-32. ``report.ok`` is True
    when every episode the file held was recovered; ``report.lost`` lists the others with the reason.
    """
    src, dst = Path(os.fspath(src)), Path(os.fspath(dst))
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise InvalidArgumentError(f"salvage writes a new file: the output {dst} must not be the input")
    fd = os.open(src, os.O_RDONLY)
    try:
        try:  # no kinonb writer may truncate the file while it is mapped below
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriterLockedError(f"{src} is locked by a writer; salvage it when the writer is done") from None
        fb = FileBytes(fd, os.fstat(fd).st_size)
        rec = recover(fb, src)
        report = _report(src, dst, fb, rec)
        mm = mmap.mmap(fd, fb.size, access=mmap.ACCESS_READ) if rec.positions else None
        view = SalvagedView(src, rec, np.frombuffer(mm, np.uint8) if mm is not None else np.zeros(0, np.uint8))
        lz4 = any(col.codec == L.CODEC_LZ4_FRAMES for col in rec.columns)
        episodes = (episode_kwargs(view.read_episode(i)) for i in range(len(rec.positions)))
        write_episodes(dst, episodes, report, compression="lz4" if lz4 else None, overwrite=overwrite,
                       progress=progress, total=len(rec.positions))
    finally:
        os.close(fd)
    return report


def _report(src: Path, dst: Path, fb: FileBytes, rec: Recovered) -> Report:
    report = Report("salvage", source=str(src), output=str(dst), ok=not rec.lost and rec.footers > 0)
    report.recovered, report.lost_episodes = len(rec.positions), rec.lost_count
    report.lost = [f"episode {a}: {why}" if a == b else f"episodes {a}..{b}: {why}" for a, b, why in rec.lost]
    report.notes.extend(rec.notes)
    report.note(f"{rec.footers} footers found in {fb.size} bytes; the file held {rec.known} episodes")
    if rec.footers == 0:
        report.errors.append(f"{src}: no footer found in {fb.size} bytes: nothing indexes any episode")
    elif rec.lost:
        report.errors.append(f"{rec.lost_count} of {rec.known} episodes lost")
    return report
