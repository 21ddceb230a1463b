"""``Database``: a read-only snapshot of one commit of a .knb file, mapped with numpy.memmap.

Every array it returns for a raw column is a read-only, zero-copy view of the map. A reader keeps the commit it
opened (later appends never touch those bytes) until ``refresh()`` moves it to the newest commit.
"""

from __future__ import annotations

import mmap
import os
import warnings
from pathlib import Path

import numpy as np

from ..codecs.decode_pool import run
from ..codecs.registry import decode_tasks, stored_frames
from ..errors import (
    ArgumentTypeError,
    CorruptFieldError,
    InvalidArgumentError,
    PositionError,
    TornTailWarning,
    UnknownKeyError,
)
from ..format import layout as L
from ..format import stats as S
from ..format import success as success_code
from ..format.footer import decode_footer
from ..format.schema import FIXED_ROLE_NAMES
from ..protocol import ColumnBlocks
from ..query import Queryable
from .episode_index import EpisodeIndex
from .history import check_commit_arg, find_commit
from .meta_table import build_meta_table
from .page_cache import merged_ranges, will_need
from .recovery import Commit, find_last_commit
from .byte_ranges import ByteRanges
from .timelines import Timelines

#: madvise() hint per ``access`` mode (None: leave the kernel's default read-ahead).
ACCESS_ADVICE = {
    "normal": None,
    "random": getattr(mmap, "MADV_RANDOM", None),
    "sequential": getattr(mmap, "MADV_SEQUENTIAL", None),
}


def checked_position(i, n: int, where) -> int:
    """Episode position ``i`` of ``n`` (negative counts from the end) as an int in ``[0, n)``; ``where`` names the
    file or dataset in the error."""
    try:
        p = int(i)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"episode position must be an integer, got {type(i).__name__}") from None
    if p != i:
        raise ArgumentTypeError(f"episode position must be an integer, got {i!r}")
    if p < 0:
        p += n
    if not 0 <= p < n:
        raise PositionError(f"episode position {i} out of range for {n} episodes in {where}")
    return p


def _reopen(path, access, commit=None):
    return Database(path, access=access, commit=commit)




class Database(Timelines, Queryable, ByteRanges):
    """A .knb file opened for reading. Use :func:`kinonb.open`. Implements :class:`kinonb.protocol.EpisodeReader`
    and :class:`kinonb.protocol.SampleSource`."""

    format_name = "knb"

    def __init__(self, path, *, access: str = "normal", commit: int | None = None):
        if access not in ACCESS_ADVICE:
            raise InvalidArgumentError(f"access must be one of {sorted(ACCESS_ADVICE)}, got {access!r}")
        self._path = Path(os.fspath(path))
        self._access = access
        self._pin = None if commit is None else check_commit_arg(commit)  # an earlier commit: see history.py
        self._load()

    # -- opening -------------------------------------------------------------------------------------------
    def _load(self) -> None:
        fd = os.open(self._path, os.O_RDONLY)
        try:
            commit, minor = find_last_commit(fd, self._path)
            if self._pin is not None:
                commit = find_commit(fd, self._path, self._pin, commit)
                self._pin = commit.seq  # refresh and pickling keep this very commit
            # Map the descriptor the commit was found through: the path may be replaced meanwhile.
            mm = mmap.mmap(fd, commit.end, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        advice = ACCESS_ADVICE[self._access]
        if advice is not None:
            mm.madvise(advice)
        self._install(commit, minor, np.frombuffer(mm, np.uint8), mm)

    def _install(self, commit: Commit, minor: int, buf: np.ndarray, mm) -> None:
        footer = decode_footer(buf, self._path, commit.footer_offset, commit.footer_length, commit.minor,
                               commit.checked_prefix)
        self._commit = commit
        self._minor = max(minor, commit.minor)
        self._mm = mm
        self._buf = buf
        self._use_footer(footer, commit.footer_offset)
        if commit.ignored_bytes:
            warnings.warn(f"{self._path}: ignored {commit.ignored_bytes} bytes after the last intact commit "
                          f"(a torn append, or a cut copy); `kinonb validate` tells which, and `kinonb salvage` "
                          f"recovers the episodes they hold", TornTailWarning, stacklevel=4)

    def _use_footer(self, footer, data_end: int) -> None:
        """Index ``footer`` (its blocks end at or before ``data_end``) and the columns by role."""
        self._footer = footer
        self._index = EpisodeIndex(self._path, footer, data_end)
        self._columns = footer.columns
        self._col_by_name = {c.name: i for i, c in enumerate(self._columns)}
        self._role_col = {c.role: i for i, c in enumerate(self._columns) if c.role in FIXED_ROLE_NAMES}
        self._cameras = [i for i, c in enumerate(self._columns) if c.role == L.ROLE_CAMERA]
        self._extras = [i for i, c in enumerate(self._columns) if c.role == L.ROLE_EXTRA]
        self._by_role = {role: [i for i, c in enumerate(self._columns) if c.role == role]
                         for role in (L.ROLE_TIMESTAMPS, L.ROLE_STREAM, L.ROLE_EPISODE_ARRAY)}
        self._meta_table = None

    def refresh(self) -> bool:
        """Move to the newest commit of the file; return True when it changed. A reader opened with ``commit=k``
        stays at that commit (returns False)."""
        if self._pin is not None:
            return False
        old = (self._commit.end, self._commit.seq)
        self._load()
        return (self._commit.end, self._commit.seq) != old

    def close(self) -> None:
        """Drop this reader's reference to the map (views already handed out keep it alive)."""
        self._mm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        return (_reopen, (str(self._path), self._access, self._pin))

    # -- kinodb API ----------------------------------------------------------------------------------------
    def num_episodes(self) -> int:
        return self._index.n

    def __len__(self) -> int:
        return self._index.n

    def num_frames(self) -> int:
        return self._footer.num_frames

    def version(self) -> str:
        return f"{L.FORMAT_MAJOR}.{self._minor}"

    def path(self) -> str:
        return str(self._path)

    def summary(self) -> str:
        cams = ", ".join(self.camera_names()) or "none"
        lines = [
            f"kinonb {self.version()} file: {self._path}",
            f"  episodes: {self.num_episodes()}",
            f"  frames:   {self.num_frames()}",
            f"  commits:  {self._commit.seq}",
            f"  columns:  {', '.join(c.name for c in self._columns) or 'none'}",
            f"  cameras:  {cams}",
        ]
        for c in self._columns:
            d = c.describe()
            lines.append(f"    {d['name']:<16} {d['role']:<11} {d['dtype']:<8} {tuple(d['shape'])!s:<14} {d['codec']}")
        return "\n".join(lines)

    def read_meta(self, i: int) -> dict:
        p = self._position(i)
        return self._meta(p, self._index.blocks[p].tolist())

    def _meta(self, p: int, row: list) -> dict:
        (episode_id, num_frames, _, fps, total_reward, task_id, embodiment_id, _, attrs_length, success, flags,
         _) = self._index.episodes[p].item()
        strings = self._footer.strings
        cols = self._columns
        return {
            "episode_id": episode_id,
            "embodiment": strings[embodiment_id],
            "task": strings[task_id],
            "num_frames": num_frames,
            "fps": fps,
            "action_dim": self._dim(p, row, L.ROLE_ACTIONS),
            "success": success_code.decode(success),
            "total_reward": total_reward if flags & L.EPISODE_HAS_REWARD else None,
            "state_dim": self._dim(p, row, L.ROLE_STATES),
            "cameras": [cols[c].name for c in self._cameras if row[c][3] & L.BLOCK_PRESENT],
            "columns": [cols[c].name for c in self._extras if row[c][3] & L.BLOCK_PRESENT],
            "attrs": self._index.attrs(p) if attrs_length else {},
        }

    def read_episode(self, i: int, *, raw_frames: bool = False) -> dict:
        """Meta plus every column of episode ``i``: raw columns are zero-copy read-only views, cameras decoded
        uint8 (T, H, W, C). ``raw_frames=True``: compressed cameras as stored, undecoded (a list of lz4 frames,
        an EncodedJpeg, an EncodedVideo)."""
        p = self._position(i)
        row = self._index.blocks[p].tolist()
        ep = self._actions_only(p, row)
        ep["images"] = {self._columns[c].name: self._stored(p, c) if raw_frames and self._columns[c].codec else
                        self._column(p, c, row[c]) for c in self._cameras if row[c][3] & L.BLOCK_PRESENT}
        return ep

    def _stored(self, p: int, c: int):
        table = self._index.lz4_table(self._buf, p, c)
        return stored_frames(self._columns[c].codec, self._buf, table, int(self._index.blocks[p, c]["offset"]),
                             self._index.block_shape(p, c))

    def read_episode_actions_only(self, i: int) -> dict:
        """Like read_episode without images: no image byte is touched."""
        p = self._position(i)
        return self._actions_only(p, self._index.blocks[p].tolist())

    def _actions_only(self, p: int, row: list) -> dict:
        ep = {"meta": self._meta(p, row)}
        for role, key in FIXED_ROLE_NAMES.items():
            c = self._role_col.get(role)
            ep[key] = self._column(p, c, row[c]) if c is not None and row[c][3] & L.BLOCK_PRESENT else None
        for c in self._extras:
            if row[c][3] & L.BLOCK_PRESENT:
                ep[self._columns[c].name] = self._column(p, c, row[c])
        self._add_timelines(ep, p, row)
        return ep

    # -- beyond kinodb -------------------------------------------------------------------------------------
    @property
    def ignored_bytes(self) -> int:
        """Bytes after the commit this reader uses (a torn append), as found when it last (re)opened."""
        return self._commit.ignored_bytes

    @property
    def commit_seq(self) -> int:
        return self._commit.seq

    def schema(self) -> list[dict]:
        return [c.describe() for c in self._columns]

    def column_names(self) -> list[str]:
        return [c.name for c in self._columns]

    def camera_names(self) -> list[str]:
        return [self._columns[c].name for c in self._cameras]

    def stats(self) -> dict:
        """Per column: min, max, mean, std, count (finite values), nan_count, inf_count."""
        return {c.name: S.describe(self._footer.stats[i]) for i, c in enumerate(self._columns)}

    def frames(self, i: int, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) of column ``key`` of episode ``i``: a zero-copy view for raw columns."""
        p = self._position(i)
        c = self._column_index(key)
        t = self._index.block_frames(p, c)
        if not self._has(p, c):
            raise UnknownKeyError(f"episode {p} has no column {key!r}")
        start, stop, step = slice(start, stop).indices(t)
        if self._columns[c].codec != L.CODEC_RAW:
            return self._decode_camera(p, c, range(start, max(start, stop)))
        return self._column(p, c)[start:stop]

    def sample_index(self, windows: dict, *, pad: str = "edge", episodes=None, pad_before=None, pad_after=None,
                     pad_dims=None, missing: str = "error", rate=None, max_staleness=None):
        """Frame-level samples with a window of offsets per key; see :class:`kinonb.sampling.SampleIndex`.

        >>> index = db.sample_index({"actions": range(16), "states": range(-1, 1), "top": [0]})
        >>> batch = index.read(ids, image_size=(224, 224), layout="CHW", normalize=True)
        """
        from ..sampling.index import SampleIndex

        return SampleIndex(self, windows, pad=pad, episodes=episodes, pad_before=pad_before, pad_after=pad_after,
                           pad_dims=pad_dims, missing=missing, rate=rate, max_staleness=max_staleness)

    def meta_table(self):
        """The episode metadata as numpy columns, the table KQL evaluates (built once per snapshot)."""
        if self._meta_table is None:
            self._meta_table = build_meta_table(self._index, self._columns, self._role_col, self._cameras,
                                                self._footer.strings)
        return self._meta_table

    def index_tables(self) -> tuple[np.ndarray, np.ndarray, bytes]:
        """This commit's checked EPISODE records (N,) and BLOCK table (N, columns in ``column_names()`` order),
        read-only, and its attrs heap (each episode's attrs are ``heap[attrs_offset:][:attrs_length]``): what
        ``kinonb diff`` compares, without reading a frame."""
        self._index.ensure_all()
        episodes, blocks = self._index.episodes.view(), self._index.blocks.view()
        episodes.flags.writeable = blocks.flags.writeable = False
        return episodes, blocks, self._index.attrs_heap().tobytes()


    def will_need(self, buffers: list, starts: list, lengths: list) -> int:
        """Ask the kernel to read byte ranges of this file into the page cache (see kinonb/store/page_cache.py):
        ``starts[k]`` and ``lengths[k]`` of ``buffers[k]``, those that are this reader's map. Returns the bytes."""
        mine = [k for k, b in enumerate(buffers) if b is self._buf]
        if not mine:
            return 0
        lo, hi = merged_ranges(np.concatenate([np.asarray(starts[k], np.int64) for k in mine]),
                               np.concatenate([np.asarray(lengths[k], np.int64) for k in mine]), len(self._buf))
        return will_need(self._path, lo, hi)

    def episode_lengths(self, episodes=None) -> np.ndarray:
        """Frame counts (int64) of ``episodes`` (positions, checked by the caller; None: every episode).

        Their sum never exceeds the file's size: only zero-width columns let an episode claim more frames than
        it has bytes, and whoever sizes an allocation by frame counts is bounded by the file this way.
        """
        if episodes is None:
            self._index.ensure_all()
            lengths = self._index.episodes["num_frames"].astype(np.int64)
        else:
            self._index.ensure_many(episodes)
            lengths = self._index.episodes["num_frames"][episodes].astype(np.int64)
        total = int(lengths.sum())
        if total > len(self._buf):
            raise CorruptFieldError(self._path, None, f"at most {len(self._buf)} frames (one per byte of the file)",
                                    f"{total} frames")
        return lengths

    def column_blocks(self, key: str, episodes: np.ndarray) -> ColumnBlocks:
        """Where column ``key`` lives for ``episodes`` (checked positions): see :class:`kinonb.protocol.ColumnBlocks`."""
        if key not in self._col_by_name:
            raise InvalidArgumentError(f"unknown key {key!r} in {self._path}; columns: {self.column_names()}")
        c = self._col_by_name[key]
        col = self._columns[c]
        blocks = self._index.blocks[episodes, c]
        present = (blocks["flags"] & L.BLOCK_PRESENT) != 0
        if not present.all():
            missing = int(episodes[np.flatnonzero(~present)[0]])
            raise InvalidArgumentError(f"key {key!r} is absent from episode {missing}; filter episodes with "
                                       f"episodes=db.query(...) to those that have it")
        starts = blocks["offset"].astype(np.int64)
        counts = shapes = None
        if col.per_block:
            rows = self._index.shapes[episodes, c]
            counts = rows["num_frames"].astype(np.int64) if col.own_frames else None
            shapes = rows["shape"][:, : len(col.shape)].astype(np.int64) if col.variable_shape else None
        where = dict(path=str(self._path), positions=np.asarray(episodes, np.int64))
        if col.codec == L.CODEC_RAW:
            return ColumnBlocks(col, self._buf, starts, frame_counts=counts, shapes=shapes, **where)
        tables = [self._index.lz4_table(self._buf, int(p), c) for p in episodes]
        frame_base = np.zeros(len(episodes), np.int64)
        if len(episodes) > 1:
            np.cumsum([self._index.block_frames(int(p), c) for p in episodes[:-1]], out=frame_base[1:])
        if col.codec == L.CODEC_VIDEO:
            return ColumnBlocks(col, self._buf, starts, frame_base=frame_base, frame_counts=counts, shapes=shapes,
                                video=tuple(tables), **where)
        begin = [t[:-1].astype(np.int64) + off for t, off in zip(tables, starts.tolist())]
        end = [t[1:].astype(np.int64) + off for t, off in zip(tables, starts.tolist())]
        frame_offset = np.concatenate(begin) if begin else np.zeros(0, np.int64)
        frame_length = (np.concatenate(end) if end else np.zeros(0, np.int64)) - frame_offset
        return ColumnBlocks(col, self._buf, starts, frame_offset, frame_length, frame_base, counts, shapes, **where)

    # -- internals -----------------------------------------------------------------------------------------
    def _position(self, i) -> int:
        p = checked_position(i, self._index.n, self._path)
        self._index.ensure(p)
        return p

    def _column_index(self, key: str) -> int:
        try:
            return self._col_by_name[key]
        except KeyError:
            raise UnknownKeyError(f"no column {key!r} in {self._path}; columns: {self.column_names()}") from None

    def _has(self, p: int, c: int) -> bool:
        return bool(self._index.blocks[p, c]["flags"] & L.BLOCK_PRESENT)

    def _dim(self, p: int, row: list, role: int) -> int:
        c = self._role_col.get(role)
        if c is None or not row[c][3] & L.BLOCK_PRESENT:
            return 0
        return self._index.block_shape(p, c)[0]

    def _column(self, p: int, c: int, block=None) -> np.ndarray:
        """Episode ``p``'s column ``c``: a view for raw columns, decoded frames for compressed cameras."""
        col = self._columns[c]
        off, nbytes, _, _ = self._index.blocks[p, c].item() if block is None else block
        frames = self._index.block_frames(p, c)
        if col.codec != L.CODEC_RAW:
            return self._decode_camera(p, c, range(frames))
        shape = (frames, *self._index.block_shape(p, c))
        if nbytes:
            return self._buf[off : off + nbytes].view(col.dtype).reshape(shape)
        empty = np.empty(shape, col.dtype)  # zero-width: no bytes, whatever the shape claims
        empty.flags.writeable = False
        return empty

    def _decode_camera(self, p: int, c: int, frame_ids) -> np.ndarray:
        col = self._columns[c]
        table = self._index.lz4_table(self._buf, p, c)
        off = int(self._index.blocks[p, c]["offset"])
        ids = np.asarray(frame_ids, np.int64)
        out = np.empty((len(ids), *self._index.block_shape(p, c)), np.uint8)

        def fail(found):
            return CorruptFieldError(self._path, off, f"{L.CODEC_NAMES[col.codec]} frames of episode {p} camera "
                                     f"{col.name!r} decoding to {out.shape[1:]} each", found)

        if len(ids):
            run(decode_tasks(col.codec, self._buf, table, off, ids, out, fail))
        return out
