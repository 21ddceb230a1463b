"""``salvage``: copy every episode whose bytes survive from a cut or damaged .knb file into a new, valid one.

The index comes from every footer the file still holds (``recovered.py``), the blocks are verified against
their CRC-32 before they are used, and the episodes are read back through the reader's own decode path
(:class:`SalvagedView` is a :class:`Database` over the rebuilt index) and written with the public writer, in
their original position order, keeping ids, metadata, attrs, timestamps, streams, episode arrays, and each
column's dtype, flags and codec (jpeg and video cameras are copied as stored, not decoded and encoded again).
"""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, WriterLockedError
from ..format import layout as L
from ..format.footer import Footer, chunk_checksums, commit_minor
from .footer_scan import FileBytes
from .reader import Database
from .recovered import Recovered, recover
from .recovery import Commit
from .report import Report
from .transfer import episode_kwargs, write_episodes

#: exit status of ``kinonb salvage`` when episodes were lost (0: every episode the file held was recovered).
EXIT_LOST = 1
FIXED_KEYS = ("actions", "states", "rewards", "is_terminal")  # add_episode keywords of the fixed roles


class SalvagedView(Database):
    """A read-only Database over a rebuilt index (``Recovered``) and the source file's bytes ``buf``: the
    reader's own path (``Database._use_footer``, ``EpisodeIndex``) reads per-block shapes, streams, episode
    arrays and every camera codec from it."""

    def __init__(self, path, rec: Recovered, buf: np.ndarray):
        self._path, self._access = Path(os.fspath(path)), "normal"
        c = len(rec.columns)
        heap = np.frombuffer(rec.attrs, np.uint8)
        shapes = rec.block_shapes if any(col.per_block for col in rec.columns) else None
        footer = Footer(columns=rec.columns, strings=rec.strings, episodes=rec.episodes, blocks=rec.blocks,
                        attrs_heap=heap, stats=np.zeros(c, L.STAT),
                        num_frames=int(rec.episodes["num_frames"].astype(np.int64).sum()),
                        chunk_crcs=chunk_checksums(rec.episodes, rec.blocks, L.CHUNK_EPISODES, block_shapes=shapes),
                        section_offsets=dict.fromkeys(L.SECTION_NAMES_1_1, 0), attrs_crc32=L.crc32(heap),
                        block_shapes=shapes, minor=commit_minor(rec.columns, rec.blocks, shapes))
        self._commit = Commit(len(buf), 0, 0, len(rec.episodes), 0, len(buf) + L.TRAILER.itemsize)
        self._minor, self._mm, self._buf = footer.minor, None, buf
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
        casts = _casts(rec.columns, report)
        write_episodes(dst, _episodes(view, rec.columns, casts), report, overwrite=overwrite, progress=progress,
                       total=len(rec.positions), dtypes={name: col.dtype for name, col in casts.items()},
                       compression={col.name: L.CODEC_NAMES[col.codec] for col in rec.columns if col.codec})
    finally:
        os.close(fd)
    return report


def _episodes(view: SalvagedView, columns: list, casts: dict):
    """add_episode kwargs for every episode of ``view``: jpeg and video cameras as their stored bytes (the writer
    stores them as given), lz4 cameras decoded (lossless; the writer compresses them again), cast columns back
    in their source dtype (so that the writer casts them again and records the flag)."""
    lz4 = [col.name for col in columns if col.codec == L.CODEC_LZ4_FRAMES]
    for i in range(view.num_episodes()):
        ep = view.read_episode(i, raw_frames=True)
        for name in lz4:
            if name in ep["images"]:
                ep["images"][name] = view.frames(i, name)
        kw = episode_kwargs(ep)
        for name, col in casts.items():
            _uncast(kw, name, col.source_dtype)
        yield kw


def _casts(columns: list, report: Report) -> dict:
    """The COLUMN_CAST columns whose flag the writer reproduces: those whose values convert to their source dtype
    and back exactly (float32 from float64, float16 from float32, ...). The others keep their dtype and values
    but lose the flag (the writer records a cast only when it makes one): said in the report."""
    out = {}
    for col in columns:
        if not col.flags & L.COLUMN_CAST:
            continue
        if np.can_cast(col.dtype, col.source_dtype, "safe"):
            out[col.name] = col
        else:
            report.note(f"column {col.name!r}: cast from {col.source_dtype} on write; the copy keeps its "
                        f"{col.dtype} values, without the cast flag")
    return out


def _uncast(kw: dict, name: str, source) -> None:
    """Convert column ``name`` of the add_episode kwargs ``kw`` to ``source`` (exact: a safe cast)."""
    if name in FIXED_KEYS and kw.get(name) is not None:
        kw[name] = kw[name].astype(source)
    for key in ("columns", "episode_arrays"):
        if name in (kw.get(key) or {}):
            kw[key] = {**kw[key], name: kw[key][name].astype(source)}
    if name in (kw.get("streams") or {}):
        times, values = kw["streams"][name]
        kw["streams"] = {**kw["streams"], name: (times, values.astype(source))}


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
