"""``KinoMapDataset`` (alias ``KinoDataset``): random access to episodes or windowed frame samples of one file.

``Source`` is one file seen as a sample space, shared by every dataset class: it holds the path and options
only, and opens the file the first time it is used in a process (a forked worker notices the new process id
and opens its own; a spawned worker gets a copy without any handle). Pickling drops the handle.
"""

from __future__ import annotations

import operator
import os
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import (
    ArgumentTypeError,
    EmptyDatasetError,
    InvalidArgumentError,
    PositionError,
    UnknownKeyError,
)
from ..interop import opener
from . import convert, sharding
from .collate import Rows
from .options import SampleOptions


class _Opened(NamedTuple):
    pid: int
    db: object
    positions: np.ndarray  # episode positions in the file that pass the filter
    index: object  # SampleIndex (window mode) or None
    image: object  # ImageOptions for the cameras read (window mode)
    episode_ids: np.ndarray  # stored episode id per file position (window mode)
    tasks: np.ndarray  # task string per file position (window mode)
    arrays: dict  # episode position -> {name: array}: the episode_arrays read so far (this process)


class Source:
    """One file as a sample space: whole episodes (``windows=None``) or frames with windows per key.

    Reads return numpy; the datasets convert to tensors. See :class:`KinoMapDataset` for the options.
    """

    def __init__(self, path, *, name=None, kql_filter=None, windows=None, pad="edge", pad_before=None,
                 pad_after=None, image_key=None, image: convert.ImageFormat | None = None, actions_only=False,
                 options: SampleOptions | None = None, commit: int | None = None, storage_options=None):
        self.path = os.fspath(path)
        self.storage_options = storage_options  # for a URL: fsspec's options (credentials, endpoint)
        self.commit = commit  # the commit every process reads: the one given, else the first one opened
        self.name = str(path) if name is None else str(name)
        if kql_filter is not None and not isinstance(kql_filter, str):
            raise ArgumentTypeError(f"kql_filter must be a KQL string or None, got {type(kql_filter).__name__}")
        self.kql_filter = kql_filter or None
        if windows is not None:
            if not isinstance(windows, dict) or not windows:
                raise InvalidArgumentError("windows must be a non-empty dict {key: offsets}, e.g. {'actions': range(16)}")
            if image_key is not None:
                raise InvalidArgumentError("image_key picks the camera of whole-episode samples; with windows, name the "
                                 "camera as a key of windows instead, e.g. windows={..., 'front': [0]}")
        elif (pad, pad_before, pad_after) != ("edge", None, None):
            raise InvalidArgumentError("pad, pad_before and pad_after apply to windows; whole episodes are never padded")
        self.windows = None if windows is None else dict(windows)
        self.pad, self.pad_before, self.pad_after = pad, pad_before, pad_after
        self.image_key = image_key
        self.image = image if image is not None else convert.ImageFormat()
        self.actions_only = bool(actions_only)
        self.options = options if options is not None else SampleOptions()
        self.options.check_windowed(windows is not None)
        self._state = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_state"] = None  # never ship a handle: each process opens its own
        return state

    @property
    def windowed(self) -> bool:
        return self.windows is not None

    def _opened(self) -> _Opened:
        st = self._state
        if st is None or st.pid != os.getpid():
            st = self._state = self._open()
        return st

    def _open(self) -> _Opened:
        sharding.limit_threads_in_worker()
        # Window samples hit pages all over the file: read-ahead would pull in other columns' bytes (cold cache).
        db = opener.open(self.path, access="random" if self.windowed else "normal", commit=self.commit,
                         storage_options=self.storage_options)
        if self.commit is None:  # workers opened later read this same commit, whatever lands meanwhile
            self.commit = getattr(db, "commit_seq", None)
        n = db.num_episodes()
        positions = (db.query_positions(self.kql_filter) if self.kql_filter else np.arange(n, dtype=np.int64))
        positions = np.asarray(positions, np.int64)
        if not self.windowed:
            return _Opened(os.getpid(), db, positions, None, self.image, None, None, {})
        cameras = set(db.camera_names())
        windows = {k: v for k, v in self.windows.items() if not (self.actions_only and k in cameras)}
        if not windows:
            raise InvalidArgumentError(f"actions_only=True leaves no key of windows {list(self.windows)} to read")
        index = db.sample_index(windows, pad=self.pad, episodes=positions, pad_before=self.pad_before,
                                pad_after=self.pad_after, **self.options.index_kwargs())
        index.prefetch()  # a cold first epoch reads the low-dim blocks from memory, not disk, page by page
        image = self.image.restricted(cameras & set(windows), cameras)
        table = db.meta_table()
        tasks = np.asarray(list(table.strings), dtype=object)[table.task_id] if n else np.zeros(0, object)
        return _Opened(os.getpid(), db, positions, index, image, table.episode_id, tasks, {})

    # -- the sample space ------------------------------------------------------------------------------------
    def require_samples(self) -> None:
        """EmptyDatasetError naming the file and the filter when this source has no sample (a sampler would
        fail later with torch's ``num_samples=0``). Opens the file in this process (workers reopen their own)."""
        st = self._opened()
        if len(self):
            return
        n = st.db.num_episodes()
        if n == 0:
            why = "the file has no episodes"
        elif not len(st.positions):
            why = f"kql_filter {self.kql_filter!r} selects none of its {n} episodes"
        else:
            why = (f"no frame of the {len(st.positions)} selected episodes fits windows {self.windows} with "
                   f"pad={self.pad!r}")
        raise EmptyDatasetError(f"{self.path}: no samples: {why}")

    def __len__(self) -> int:
        st = self._opened()
        return len(st.index) if self.windowed else len(st.positions)

    @property
    def sample_episodes(self) -> np.ndarray:
        """Episode position in the file of every sample (for sampler weights, e.g. per task or per episode)."""
        st = self._opened()
        return st.index.sample_episodes if self.windowed else st.positions

    @property
    def sample_frames(self) -> np.ndarray | None:
        """Frame of every sample (window mode), None for whole episodes."""
        st = self._opened()
        return st.index.sample_frames if self.windowed else None

    def dims(self) -> dict:
        """Last-axis width of every low-dim key this source returns (the widest episode's, for whole episodes)."""
        st = self._opened()
        if self.windowed:
            keys = st.index.keys.values()
            return {k.name: int(k.widths.width or k.widths.dims.max(initial=0)) for k in keys
                    if not k.is_camera and k.shape}
        table = st.db.meta_table()
        out = {}
        for key, column in (("action", table.action_dim), ("state", table.state_dim)):
            dims = np.asarray(column)[st.positions]
            if len(dims):
                out[key] = int(dims.max())
        return out

    # -- reads -------------------------------------------------------------------------------------------------
    def read(self, ids, out: dict | None = None) -> dict:
        """Window mode: samples ``ids`` as one batch, one compiled call per key (``out``: arrays to fill, see
        :meth:`reusable_keys`)."""
        st = self._opened()
        batch = st.index.read(ids, image=st.image, out=out)
        for name in self.options.episode_arrays:
            batch.update(convert.stack_arrays(name, [self._episode_array(st, p, name) for p in batch["episode"]]))
        cameras = [k for k, key in st.index.keys.items() if key.is_camera]
        convert.cast_floats(batch, self.options.numpy_dtype, skip=cameras)
        return convert.window_batch(batch, st.episode_ids, st.tasks)

    def reusable_keys(self) -> list:
        """Window keys whose batch arrays have the same shape and dtype in every batch (not padded keys, which
        take the batch's widest episode, nor floats cast to ``dtype``), so ``read(ids, out=)`` may fill one array
        again and again."""
        cast = self.options.numpy_dtype
        return [name for name, key in self._opened().index.keys.items() if not key.padded
                and (key.is_camera or cast is None or key.column.dtype.kind != "f" or key.column.dtype == cast)]

    def _episode_array(self, st: _Opened, p: int, name: str) -> np.ndarray:
        """Episode ``p``'s array ``name`` (zero-copy from ``read_episode``), read once per process."""
        arrays = st.arrays.get(p)
        if arrays is None:
            arrays = st.arrays[p] = st.db.read_episode(int(p)).get("episode_arrays", {})
        if name not in arrays:
            raise UnknownKeyError(f"{self.path}: episode {p} has no episode array {name!r} (it has {sorted(arrays)})")
        return arrays[name]

    def episode(self, i: int) -> dict:
        """Whole-episode mode: sample ``i`` (the ``i``-th episode passing the filter) with kinodb's keys."""
        st = self._opened()
        n = len(st.positions)
        if not -n <= i < n:
            raise PositionError(f"sample {i} out of range for {n} episodes of {self.path}")
        p = int(st.positions[i])
        db = st.db
        ep = db.read_episode_actions_only(p)
        if self.actions_only:
            sample = convert.episode_sample(ep)
        else:
            camera = self._camera(ep["meta"]["cameras"], p)
            frames = db.frames(p, camera) if camera is not None else None  # decodes the chosen camera only
            sample = convert.episode_sample(ep, camera, frames, self.image)
        for name in self.options.episode_arrays:
            sample[name] = self._episode_array(st, p, name)
        return convert.cast_floats(sample, self.options.numpy_dtype, skip=("image",))

    def _camera(self, cameras: list, p: int):
        if self.image_key is None:
            return cameras[0] if cameras else None
        if self.image_key not in cameras:
            raise UnknownKeyError(f"{self.path}: episode {p} has no camera {self.image_key!r} (it has {cameras})")
        return self.image_key


class KinoMapDataset(Dataset):
    """Random access to one ``.knb`` (or kinodb ``.kdb``) file.

    Whole episodes (``windows=None``, kinodb's mode): sample ``i`` is the ``i``-th episode passing
    ``kql_filter``, with kinodb's keys ``action`` (T, A), ``state`` (T, S), ``reward`` (T,), ``image``
    (T, C, H, W) float32 in [0, 1] from camera ``image_key`` (the episode's first camera when None) resized to
    ``image_size`` with ``resize_mode`` (nearest, as kinodb), plus ``camera``, ``task``, ``embodiment``,
    ``success`` and ``episode_id``. ``actions_only=True`` reads no image byte and returns no ``image``.

    Frame samples (``windows={key: offsets}``, .knb only): sample ``i`` is one frame ``t`` of one episode;
    each key returns its frames ``t + offset`` as ``(W, ...)`` and ``{key}_is_pad`` ``(W,)``; plus
    ``episode`` (position in the file), ``episode_id``, ``frame`` and ``task``. ``pad="edge"`` keeps every
    frame and repeats edge frames (flagged in ``_is_pad``); ``pad="none"`` keeps only frames whose windows fit
    (see ``kinonb.kernels.windows``). Cameras come as ``layout`` (CHW), float32 in [0, 1] with ``normalize``
    (else uint8), resized to ``image_size``. ``actions_only=True`` drops camera keys from ``windows``.
    ``pad_dims``, ``missing``, ``rate`` and ``max_staleness`` go to ``db.sample_index`` (keys of mixed widths
    come zero-padded with ``{key}_dim_mask``; streams and fixed-rate grids, see docs/sampling.md).

    Low-dim float arrays come as ``dtype`` (default ``torch.float32``; ``None``: as stored); ``episode_arrays=
    ["init_qpos"]`` adds those per-episode arrays to every sample.

    ``commit=k`` reads commit k of a .knb file (``kinonb.open(path, commit=k)``: pin one for a reproducible
    run); by default the commit the dataset first opens, which every worker then reads too.

    ``db_path`` may be a sharded dataset folder or URL prefix too (:func:`kinonb.open_dataset`), and a URL
    (``s3://...``) takes ``storage_options`` for fsspec (credentials, endpoint).

    ``__getitems__`` reads a whole batch with one compiled call per key and hands it to the DataLoader's
    collate function as assembled (see :mod:`kinonb.torch.collate`). The dataset holds the path only and
    opens the file lazily in each process, so it works with any number of workers, fork or spawn, persistent
    or not, and with any sampler (Random, Distributed, WeightedRandom).
    """

    def __init__(self, db_path, kql_filter=None, image_key=None, image_size=None, to_tensor=True,
                 actions_only=False, *, windows=None, pad="edge", pad_before=None, pad_after=None,
                 resize_mode="nearest", layout="CHW", normalize=True, pad_dims=None, missing="error", rate=None,
                 max_staleness=None, dtype=torch.float32, episode_arrays=(), commit=None, storage_options=None):
        image = convert.ImageFormat(image_size, resize_mode, layout, bool(normalize))
        options = SampleOptions(pad_dims, missing, rate, max_staleness, dtype, episode_arrays)
        self.source = Source(db_path, kql_filter=kql_filter, windows=windows, pad=pad, pad_before=pad_before,
                             pad_after=pad_after, image_key=image_key, image=image, actions_only=actions_only,
                             options=options, commit=commit, storage_options=storage_options)
        self.to_tensor = bool(to_tensor)
        self.source.require_samples()

    @property
    def db_path(self) -> str:
        return self.source.path

    def __len__(self) -> int:
        return len(self.source)

    @property
    def sample_episodes(self) -> np.ndarray:
        return self.source.sample_episodes

    @property
    def sample_frames(self):
        return self.source.sample_frames

    def __getitem__(self, i):
        i = operator.index(i)
        if not self.source.windowed:
            return convert.tensors(self.source.episode(i), self.to_tensor)
        n = len(self)
        if -n <= i < 0:
            i += n
        return convert.row(self.__getitems__([i]).batch, 0)

    def __getitems__(self, indices):
        if not self.source.windowed:
            return [self[i] for i in indices]
        batch = convert.tensors(self.source.read(np.asarray(indices, dtype=np.int64)), self.to_tensor)
        return Rows(batch, len(indices))


KinoDataset = KinoMapDataset
