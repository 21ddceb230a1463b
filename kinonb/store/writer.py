"""``Writer``: appends episodes to a .knb file in crash-safe commits.

A commit is (1) the column blocks of its episodes, fsynced, then (2) a complete new footer and a trailer,
fsynced. Nothing written before is overwritten, so a crash at any moment leaves the previous commit intact.
One writer at a time holds an exclusive ``flock`` on the file.
"""

from __future__ import annotations

import fcntl
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import (
    OutputExistsError,
    TornTailError,
    UnclosedWriterWarning,
    UnsupportedVersionError,
    WriteFailedError,
    WriterClosedError,
    WriterLockedError,
)
from ..format import layout as L
from ..format.footer import Footer, commit_minor, decode_footer, encode_footer
from ..format.header import encode_header, encode_trailer
from ..format.schema import Column
from .atomic import publish, refuse_if_locked, remove_stale_temporary, temporary_path
from .autocommit import DEFAULT_AUTOCOMMIT_BYTES
from .batch_writes import add_episodes
from .block_table import block_tables
from .column_input import episode_columns
from .annotations import check_annotations
from .editing import Editing
from .edits import PendingEdits
from .episode_blocks import prepare_blocks, write_blocks
from .episode_index import EpisodeIndex
from .episode_input import attrs_blob, check_episode_fields, check_episode_meta
from .recovery import find_last_commit, refuse_recoverable_tail
from .small_episodes import SmallEpisodes
from .staged_appends import StagedAppends
from .writer_options import WriterOptions


def create(path, *, compression: str | dict | None = None, overwrite: bool = False, sync: bool = True,
           dtypes: dict | None = None, autocommit_bytes: int | None = DEFAULT_AUTOCOMMIT_BYTES,
           autocommit_episodes: int | None = None, **codec_options) -> "Writer":
    """Create a new .knb file (with an empty first commit) and return a writer for it.

    The file appears atomically: a crash during create leaves either no file or a valid empty one. ``dtypes={
    "actions": "float32"}`` stores a column in that dtype, recording a lossy cast. ``compression``: None, "lz4",
    "jpeg", "video" or ``{camera: codec}``; ``codec_options``: jpeg_quality, video_codec, video_crf, video_gop.
    """
    options = WriterOptions.checked(compression, dtypes, autocommit_bytes, autocommit_episodes, **codec_options)
    path = Path(os.fspath(path))
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; use kinonb.append() to add to it, or overwrite=True")
    if path.exists():
        refuse_if_locked(path)
    tmp = temporary_path(path, "creating")
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        remove_stale_temporary(tmp)  # left by a create killed in an earlier process with the same pid
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        empty = Footer(columns=[], strings=[], episodes=np.zeros(0, L.EPISODE), blocks=np.zeros((0, 0), L.BLOCK),
                       attrs_heap=b"", stats=np.zeros(0, L.STAT), num_frames=0)
        pieces, length, crc = encode_footer(empty)
        data = encode_header() + b"".join(pieces) + encode_trailer(L.HEADER.itemsize, length, 1, 0, crc)
        done = 0
        while done < len(data):  # pwrite may write less (a nearly full disk): never publish a short file
            done += os.pwrite(fd, data[done:], done)
        if sync:
            os.fsync(fd)
        publish(tmp, path, overwrite=overwrite, sync=sync)
    except BaseException:
        os.close(fd)
        if tmp.exists():
            tmp.unlink()
        raise
    return Writer(path, fd=fd, sync=sync, options=options)


def append(path, *, compression: str | dict | None = None, sync: bool = True, repair: bool = False,
           dtypes: dict | None = None, autocommit_bytes: int | None = DEFAULT_AUTOCOMMIT_BYTES,
           autocommit_episodes: int | None = None, **codec_options) -> "Writer":
    """Open an existing .knb file for appending.

    Bytes after the last intact commit (a crash mid-append) make this raise :class:`TornTailError`, since
    appending would bury them; ``repair=True`` truncates them first, as ``kinonb.repair(path)`` does.
    """
    options = WriterOptions.checked(compression, dtypes, autocommit_bytes, autocommit_episodes, **codec_options)
    path = Path(os.fspath(path))
    fd = os.open(path, os.O_RDWR)
    return Writer(path, fd=fd, sync=sync, repair=repair, options=options)


class Writer(StagedAppends, Editing):
    """Use :func:`kinonb.create` or :func:`kinonb.append`. A context manager: leaving the ``with`` block
    normally commits; leaving it by an exception discards every episode added since the last commit."""

    def __init__(self, path: Path, *, fd: int, sync: bool, options: WriterOptions, repair: bool = False):
        self.path = path
        self._fd = fd
        self._sync = sync
        self._autocommit, self._dtypes, self._codecs = options.autocommit, options.dtypes, options.codecs
        self._closed = False
        self._failed: BaseException | None = None
        self._small = SmallEpisodes()  # small low-dim episodes of add_episode, written in batches
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._closed = True  # so that __del__ never closes this fd number again (another file may reuse it)
            os.close(fd)
            raise WriterLockedError(f"{path} is locked by another writer; only one writer at a time") from None
        try:
            self._load_last_commit(repair)
        except BaseException:
            self._closed = True
            os.close(fd)
            raise

    # -- state ---------------------------------------------------------------------------------------------
    def _load_last_commit(self, repair: bool) -> None:
        commit, minor = find_last_commit(self._fd, self.path)
        if max(minor, commit.minor) > L.FORMAT_MINOR:
            raise UnsupportedVersionError(self.path, commit.footer_offset, f"format {L.FORMAT_MAJOR}.{L.FORMAT_MINOR} "
                                          "or older to append", f"{L.FORMAT_MAJOR}.{max(minor, commit.minor)}",
                                          "appending would drop what the newer version added: upgrade kinonb")
        if commit.ignored_bytes:
            if not repair:
                raise TornTailError(self.path, commit.end, f"the file to end with commit {commit.seq}",
                                    f"{commit.ignored_bytes} more bytes (a torn append)",
                                    "run `kinonb validate --repair` or append(..., repair=True) to truncate them")
            refuse_recoverable_tail(self._fd, self.path, commit, "kinonb.append(path, repair=True)")
            warnings.warn(f"{self.path}: removing {commit.ignored_bytes} bytes of a torn append after commit "
                          f"{commit.seq}", stacklevel=4)
            os.ftruncate(self._fd, commit.end)
            if self._sync:
                os.fsync(self._fd)
        mm = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(commit.end,))
        footer = decode_footer(mm.view(np.ndarray), self.path, commit.footer_offset, commit.footer_length,
                               commit.minor)
        EpisodeIndex(self.path, footer, commit.footer_offset).ensure_all()
        self._seq = commit.seq
        self._committed_end = commit.end
        self._columns: list[Column] = list(footer.columns)
        self._strings: list[str] = list(footer.strings)
        self._string_ids = {s: i for i, s in enumerate(self._strings)}
        self._episodes = np.array(footer.episodes)
        self._blocks = np.array(footer.blocks)
        self._shapes = None if footer.block_shapes is None else np.array(footer.block_shapes)
        self._attrs = bytes(footer.attrs_heap)
        self._stats = [np.array(s) for s in footer.stats]
        self._num_frames = footer.num_frames
        self._next_id = int(self._episodes["episode_id"].max()) + 1 if len(self._episodes) else 0
        del mm
        self._reset_pending()

    def _reset_pending(self) -> None:
        self._pos = self._committed_end
        self._stage = bytearray()
        self._stage_at = self._pos
        self._new_episodes: list[np.ndarray] = []  # EPISODE records, (1,) per add_episode, (N,) per add_episodes
        self._new_blocks: list = []  # one {column: block} per add_episode, one BlockRows per add_episodes chunk
        self._pending_count = 0
        self._new_attrs: list[bytes] = []
        self._new_attrs_len = 0
        self._edits = PendingEdits()  # delete_episodes, set_meta, add_column, trim (editing.py)
        self._mark = (list(self._columns), len(self._strings), [s.copy() for s in self._stats], self._num_frames,
                      self._next_id)

    @property
    def num_episodes(self) -> int:
        """Episodes in the file once pending ones are committed."""
        return len(self._episodes) - len(self._edits.deleted) + self._pending_count + self._small.count

    @property
    def num_frames(self) -> int:
        """Frames in the file once pending episodes are committed."""
        return self._num_frames + self._small.frames - self._edits.frames_removed

    @property
    def pending(self) -> int:
        return self._pending_count + self._small.count

    # -- adding --------------------------------------------------------------------------------------------
    def add_episode(self, actions=None, states=None, rewards=None, is_terminal=None, *, images=None,
                    columns=None, task: str = "", embodiment: str = "", fps: float = 0.0,
                    success: bool | None = None, total_reward: float | None = None, attrs: dict | None = None,
                    episode_id: int | None = None, timestamps=None, streams=None, episode_arrays=None) -> int:
        """Write one episode's blocks (not yet committed); return its position. Every column is optional (T:
        from actions when given); states and extras may hold T + 1 rows. ``timestamps``: (T,) float64 s or int64
        ns; ``streams``: ``{name: (times, values)}``; ``episode_arrays``: ``{name: array}``. See docs/data-model.md."""
        self._check_open()
        if (images is None and attrs is None and timestamps is None and streams is None and episode_arrays is None
                and self._small.take(self, (actions, states, rewards, is_terminal), columns, task, embodiment, fps,
                                     success, total_reward, episode_id)):
            return self.num_episodes - 1
        self._small.flush(self)
        fields = check_episode_fields(images, columns, success, total_reward, episode_id)
        t, given = episode_columns(actions, states, rewards, is_terminal, images, columns, timestamps, streams,
                                   episode_arrays)
        prepared = prepare_blocks(self, t, given)
        meta = self._episode_record(t, task, embodiment, fps, fields, attrs)
        # Everything is validated: from here on only I/O can fail.
        row = write_blocks(self, prepared)
        meta["frame_start"] = self._num_frames
        self._num_frames += t
        self._next_id = max(self._next_id, int(meta["episode_id"]) + 1)
        self._add_pending(meta.reshape(1), row)
        self._autocommit.commit_if_due(self)  # bounds what a crash or a cut loses (autocommit.py)
        return self.num_episodes - 1

    def add_episodes(self, lengths, actions=None, states=None, rewards=None, is_terminal=None, *, columns=None,
                     task="", embodiment="", fps=0.0, success=None, total_reward=None, episode_id=None) -> range:
        """Many episodes at once: per-frame arrays concatenated (``sum(lengths)`` rows), per-episode values one
        for all or one each. Same rules as add_episode; no cameras. Returns their positions. See batch_writes.py."""
        return add_episodes(self, lengths, actions, states, rewards, is_terminal, columns, task, embodiment, fps,
                            success, total_reward, episode_id)

    def _add_pending(self, records: np.ndarray, blocks) -> None:
        self._new_episodes.append(records)
        self._new_blocks.append(blocks)
        self._pending_count += len(records)

    def _episode_record(self, t, task, embodiment, fps, fields, attrs) -> np.ndarray:
        fps = check_episode_meta(task, embodiment, fps)
        check_annotations(attrs if isinstance(attrs, dict) else None, t)
        blob = attrs_blob(attrs)
        success, total_reward, episode_id = fields
        # Every check has passed: interning is the first change of state.
        rec = np.zeros((), L.EPISODE)
        rec["episode_id"] = self._next_id if episode_id is None else episode_id
        rec["num_frames"] = t
        rec["fps"] = fps
        rec["task_id"] = self._intern(task)
        rec["embodiment_id"] = self._intern(embodiment)
        rec["success"] = success
        if total_reward is not None:
            rec["total_reward"] = total_reward
            rec["flags"] = L.EPISODE_HAS_REWARD
        rec["attrs_offset"] = len(self._attrs) + self._new_attrs_len
        rec["attrs_length"] = len(blob)
        self._new_attrs.append(blob)
        self._new_attrs_len += len(blob)
        return rec

    def _intern(self, s: str) -> int:
        i = self._string_ids.get(s)
        if i is None:
            i = self._string_ids[s] = len(self._strings)
            self._strings.append(s)
        return i

    # -- committing ----------------------------------------------------------------------------------------
    def commit(self) -> None:
        """Make every episode added so far durable: blocks fsynced, then footer + trailer written and fsynced."""
        self._check_open()
        self._small.flush(self)
        if not self._new_episodes and not self._edits:
            return
        try:
            self._flush_stage()
            if self._sync:
                os.fsync(self._fd)
            footer = self._pending_footer()
            if self._edits:
                footer = self._edits.apply(footer, self._committed_end, self._pending_count)
            pieces, length, crc = encode_footer(footer)
            footer_offset = L.align_up(self._pos)
            self._emit(b"\0" * (footer_offset - self._pos))
            for p in pieces:
                self._emit(p)
            self._flush_stage()
            if self._sync:
                os.fsync(self._fd)  # the footer is durable before any trailer points at it
            self._emit(encode_trailer(footer_offset, length, self._seq + 1, len(footer.episodes), crc, footer.minor))
            self._flush_stage()
        except OSError as e:
            self._fail(e)
        try:
            if self._sync:
                os.fsync(self._fd)
        except OSError as e:
            # The trailer is written: a reader may already use this commit, so its bytes must not be cut.
            self._fail(e, truncate=False)
        self._seq += 1
        self._committed_end = self._pos
        self._episodes, self._blocks, self._shapes = footer.episodes, footer.blocks, footer.block_shapes
        self._attrs = bytes(footer.attrs_heap)
        self._num_frames = footer.num_frames
        self._reset_pending()

    def _pending_footer(self) -> Footer:
        blocks, shapes = block_tables(self._blocks, self._shapes, self._episodes, self._columns, self._new_blocks)
        episodes = np.concatenate([self._episodes, *self._new_episodes])
        stats = np.array(self._stats, L.STAT) if self._columns else np.zeros(0, L.STAT)
        return Footer(columns=list(self._columns), strings=list(self._strings), episodes=episodes, blocks=blocks,
                      attrs_heap=self._attrs + b"".join(self._new_attrs), stats=stats, num_frames=self._num_frames,
                      block_shapes=shapes, minor=commit_minor(self._columns, blocks, shapes))

    def abort(self) -> None:
        """Discard every episode added since the last commit (their bytes are truncated away)."""
        if self._closed or self._failed is not None:
            return  # a failed writer already truncated, or must not (its trailer may be in use by readers)
        self._small.discard()
        self._small.forget_layout()
        columns, nstrings, stats, num_frames, next_id = self._mark
        for s in self._strings[nstrings:]:
            del self._string_ids[s]
        del self._strings[nstrings:]
        self._columns[:] = columns
        self._stats = stats
        self._num_frames = num_frames
        self._next_id = next_id
        try:
            os.ftruncate(self._fd, self._committed_end)
        except OSError:
            pass  # the tail is ignored by readers and removed by the next append or repair
        self._reset_pending()

    def close(self) -> None:
        """Commit pending episodes, release the lock and close the file."""
        if self._closed:
            return
        try:
            if self._failed is None:
                self.commit()
        finally:
            self._release()

    def _release(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            try:
                if self._failed is None:
                    self.abort()
            finally:
                self._release()
        return False

    def __del__(self):
        if not getattr(self, "_closed", True):
            warnings.warn(f"kinonb writer for {self.path} was garbage-collected without close(): the "
                          f"{self.pending} episodes added since the last commit are discarded; use `with "
                          f"kinonb.create(...) as w:` (leaving the block commits) or call w.close()",
                          UnclosedWriterWarning, stacklevel=2)
            try:
                self.abort()
            finally:
                self._release()

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosedError(f"writer for {self.path} is closed")
        if self._failed is not None:
            raise WriteFailedError(f"writer for {self.path} failed earlier ({self._failed}); reopen with "
                                   "kinonb.append() to continue from the last commit")

    def _fail(self, e: OSError, truncate: bool = True):
        self._failed = e
        try:
            if truncate:
                os.ftruncate(self._fd, self._committed_end)
        except OSError:
            pass
        if truncate:
            state = (f"the file still holds the {len(self._episodes)} episodes of commit {self._seq}; "
                     "episodes added since then are lost")
        else:
            state = (f"commit {self._seq + 1} was written but its final fsync failed: it may or may not survive a "
                     f"power loss; commit {self._seq} and everything before it are durable")
        raise WriteFailedError(e.errno, f"{self.path}: writing failed at byte {self._pos} ({e.strerror or e}); "
                               f"{state}") from e
