"""The plan of a Ray read, made on the driver: which episodes, in which order, how many rows and bytes.

Every file is opened once here: its episodes are selected (``kql_filter``), counted (rows per episode, bytes
per row) and put in byte order (:mod:`kinonb.ray.locality`); no frame is read. :meth:`Plan.tasks` then cuts
that sequence into read tasks: plain data (paths, positions, options) that each task opens and reads itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError, UnknownKeyError
from .locality import byte_order, cut, episode_extents
from .rows import episode_row_bytes, window_rows
from .sources import Source

#: Rows of one block at most (a block is one batched read), and its target size in bytes.
MAX_BLOCK_ROWS = 4096
TARGET_BLOCK_BYTES = 128 << 20


@dataclass(frozen=True)
class ReadConfig:
    """What every task reads, the same for all: the window keys (or, per episode, the data columns), the
    ``sample_index`` and ``read`` keywords, and the rows of one block."""

    windows: dict | None  # {key: [offsets]} restricted to columns=; None: episode rows
    columns: tuple  # data columns read: the window keys, or the episode columns
    sample_options: dict
    read_options: dict
    block_rows: int | None  # None: from the row size


@dataclass(frozen=True)
class Segment:
    """One file's share of a task: its episodes (positions in the file, in byte order)."""

    source: Source
    offset: int  # dataset position of the file's episode 0
    positions: np.ndarray


@dataclass(frozen=True)
class TaskSpec:
    config: ReadConfig
    segments: tuple
    rows: int
    nbytes: int  # in-memory bytes of its rows
    block_rows: int

    @property
    def files(self) -> tuple:
        return tuple(s.source.path for s in self.segments)


@dataclass
class Plan:
    config: ReadConfig
    sources: list
    offsets: np.ndarray  # per source
    unit_source: np.ndarray  # per unit (episode), in read order
    unit_position: np.ndarray
    unit_rows: np.ndarray
    unit_nbytes: np.ndarray  # in memory
    unit_file_bytes: np.ndarray  # read from the file: what groups are balanced by

    @property
    def num_rows(self) -> int:
        return int(self.unit_rows.sum())

    @property
    def nbytes(self) -> int:
        return int(self.unit_nbytes.sum())

    def block_rows(self) -> int:
        if self.config.block_rows is not None:
            return self.config.block_rows
        per_row = max(1, self.nbytes // max(1, self.num_rows))
        return int(max(1, min(MAX_BLOCK_ROWS, TARGET_BLOCK_BYTES // per_row)))

    def tasks(self, parallelism: int) -> list[TaskSpec]:
        """``min(parallelism, episodes)`` tasks, each a contiguous run of the read order of about equal bytes."""
        rows = self.block_rows()
        out = []
        for group in cut(self.unit_file_bytes, max(1, parallelism)):
            segments = []
            src = self.unit_source[group]
            for s in np.unique(src):  # read order is file by file: each file is one run of the group
                mine = group[src == s]
                segments.append(Segment(self.sources[s], int(self.offsets[s]), self.unit_position[mine]))
            out.append(TaskSpec(self.config, tuple(segments), int(self.unit_rows[group].sum()),
                                int(self.unit_nbytes[group].sum()), rows))
        return out


def build_plan(sources: list[Source], config: ReadConfig, kql_filter: str | None) -> Plan:
    offsets, parts = [], []
    offset = 0
    for k, source in enumerate(sources):
        db = source.open()
        try:
            if db.format_name != "knb":
                raise InvalidArgumentError(f"{db.path()}: read_knb reads .knb files; convert this "
                                           f"{db.format_name} file with `kinonb ingest` first")
            parts.append(_file_units(db, k, config, kql_filter))
            offsets.append(offset)
            offset += db.num_episodes()
        finally:
            getattr(db, "close", lambda: None)()
    cat = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return Plan(config, list(sources), np.asarray(offsets, np.int64), *cat)


def _file_units(db, k: int, config: ReadConfig, kql_filter: str | None) -> tuple:
    """(source, position, rows, bytes in memory, bytes in the file) of the file's episodes, in byte order."""
    positions = (np.arange(db.num_episodes(), dtype=np.int64) if kql_filter is None
                 else np.asarray(db.query_positions(kql_filter), np.int64))
    names = set(db.column_names())
    missing = [c for c in config.columns if config.windows is None and c not in names]
    if missing:
        raise UnknownKeyError(f"{db.path()}: no column {missing[0]!r}; columns: {db.column_names()}")
    if config.windows is not None:
        rows, row_bytes = window_rows(db, config.windows, positions, config.sample_options, config.read_options)
        keep = rows > 0  # an episode without a sample (too short, or skipped) is in no task
        positions, rows = positions[keep], rows[keep]
        nbytes = rows * row_bytes
    else:
        rows = np.ones(len(positions), np.int64)
        nbytes = episode_row_bytes(db, positions, list(config.columns))
    first, file_bytes = episode_extents(db, positions, [c for c in config.columns if c in names])
    order = byte_order(first)
    return (np.full(len(positions), k, np.int64), positions[order], rows[order], nbytes[order], file_bytes[order])


def episode_columns(db, columns) -> tuple:
    """The data columns of episode rows: ``columns`` as given, or every column but the cameras."""
    if columns is not None:
        return tuple(columns)
    cameras = set(db.camera_names())
    return tuple(c for c in db.column_names() if c not in cameras)


def window_keys(windows: dict, columns) -> dict:
    """``windows`` restricted to ``columns`` (None: all of it), offsets as lists (picklable, small)."""
    if not isinstance(windows, dict) or not windows:
        raise InvalidArgumentError("windows must be None or a non-empty dict {key: offsets}, e.g. "
                                   "{'actions': range(16)}")
    if columns is not None:
        unknown = [c for c in columns if c not in windows]
        if unknown:
            raise InvalidArgumentError(f"columns: {unknown[0]!r} is not a key of windows ({list(windows)}); "
                                       f"columns= picks which window keys are read")
        windows = {k: v for k, v in windows.items() if k in columns}
        if not windows:
            raise InvalidArgumentError("columns= leaves no window key to read")
    return {k: list(v) if isinstance(v, range) else v for k, v in windows.items()}
