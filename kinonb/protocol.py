"""The reader boundary: what every layer above the readers may ask of an opened file.

Two readers implement :class:`EpisodeReader`: :class:`kinonb.store.Database` (.knb) and
:class:`kinonb.interop.KdbDatabase` (kinodb's .kdb). Sampling, merge, export, the torch layer and the CLI use
these members only: never a reader's private state, never ``hasattr`` or ``isinstance`` to tell the readers
apart (``format_name`` says which format a reader reads, where a caller must say so to a person).

:class:`SampleSource` is the narrower part that :class:`kinonb.sampling.SampleIndex` needs to gather windows
straight from a file's bytes; ``.knb`` implements it. A reader that cannot offer it (a ``.kdb`` file packs
its frames in interleaved records) raises :class:`~kinonb.errors.InvalidArgumentError` from ``sample_index``
saying how to convert the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .format.schema import Column
from .query.table import MetaTable


@dataclass(frozen=True)
class ColumnBlocks:
    """Where the frames of one column live for a list of episodes (positions ``E``), all offsets checked
    against ``buffer`` by the reader before it hands them out.

    Raw columns: episode ``e``'s frames are ``buffer[starts[e] : starts[e] + frames_e * frame_nbytes_e]``,
    where ``frames_e`` is ``frame_counts[e]`` (None: the episode's length) and ``frame_nbytes_e`` is
    ``itemsize * prod(shapes[e])`` (``shapes`` None: the column's one shape, ``column.shape``).
    lz4 and jpeg cameras (``frame_offset`` not None): frame ``t`` of episode ``e`` is the lz4 block (or JPEG)
    ``buffer[frame_offset[k] : frame_offset[k] + frame_length[k]]`` with ``k = frame_base[e] + t``; the codec
    is ``column.codec``. Video cameras: ``video[e]`` is episode ``e``'s checked packet table (a
    ``kinonb.format.codec_blocks.VideoTable``) and global frame ``k = frame_base[e] + t`` is its frame ``t``.
    Decode any of them with ``kinonb.codecs.frame_source.decode_camera_frames``.
    """

    column: Column
    buffer: np.ndarray  # 1-D uint8: the mapped commit; its length is a multiple of the column's itemsize
    starts: np.ndarray  # int64 (E,): byte offset of each episode's first frame
    frame_offset: np.ndarray | None = None  # int64: every frame's block, episodes concatenated (lz4 only)
    frame_length: np.ndarray | None = None
    frame_base: np.ndarray | None = None  # int64 (E,): index of each episode's frame 0 in frame_offset
    frame_counts: np.ndarray | None = None  # int64 (E,): frames of this column per episode (streams, T+1 rows)
    shapes: np.ndarray | None = None  # int64 (E, ndim): per-frame shape per episode (columns of mixed widths)
    video: tuple | None = None  # video cameras: one VideoTable per episode
    path: str | None = None  # the file, for error messages
    positions: np.ndarray | None = None  # the episodes' positions, for error messages

    @property
    def compressed(self) -> bool:
        return self.frame_offset is not None or self.video is not None


class SampleSource(Protocol):
    """What :class:`kinonb.sampling.SampleIndex` reads through."""

    def path(self) -> str: ...

    def num_episodes(self) -> int: ...

    def episode_lengths(self, episodes=None) -> np.ndarray:
        """int64 frame counts of ``episodes`` (positions; None: all), checked; their sum never exceeds the
        file's size in bytes, so an index sized by it is bounded by the file."""

    def column_blocks(self, key: str, episodes: np.ndarray) -> ColumnBlocks:
        """Where column ``key`` lives for ``episodes``; InvalidArgumentError for a key the file lacks or
        InvalidArgumentError when an episode lacks it."""

    def time_blocks(self, key: str | None, episodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(times, starts, lengths)``: float64 seconds, episodes concatenated; episode ``e``'s times are
        ``times[starts[e] : starts[e] + lengths[e]]``, never decreasing. ``key=None`` is the episode's frame
        clock (its ``timestamps`` column, else ``frame / fps``; InvalidArgumentError when it has neither), a
        stream's name that stream's own times."""


class EpisodeReader(Protocol):
    """An opened .knb or .kdb file, as every layer above the readers sees it (kinodb's ``Database`` API plus
    the members below)."""

    format_name: str  # "knb" or "kdb"

    def path(self) -> str: ...

    def version(self) -> str: ...

    def summary(self) -> str: ...

    def num_episodes(self) -> int: ...

    def __len__(self) -> int: ...

    def num_frames(self) -> int: ...

    @property
    def ignored_bytes(self) -> int:
        """Bytes after the data the reader uses (a torn .knb append); 0 for formats without commits."""

    def read_meta(self, i: int) -> dict: ...

    def read_episode(self, i: int) -> dict: ...

    def read_episode_actions_only(self, i: int) -> dict: ...

    def frames(self, i: int, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` of column or camera ``key`` of episode ``i``, decoding nothing else."""

    def schema(self) -> list[dict]:
        """One dict per column: name, role, dtype, shape (per frame), codec."""

    def column_names(self) -> list[str]: ...

    def camera_names(self) -> list[str]: ...

    def episode_lengths(self, episodes=None) -> np.ndarray: ...

    def meta_table(self) -> MetaTable: ...

    def query(self, kql: str) -> list[int]: ...

    def query_positions(self, kql: str) -> np.ndarray: ...

    def sample_index(self, windows: dict, *, pad: str = "edge", episodes=None, pad_before=None,
                     pad_after=None, pad_dims=None, missing: str = "error", rate=None, max_staleness=None): ...
