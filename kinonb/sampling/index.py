"""``SampleIndex``: training samples with windows per key, read a batch at a time.

A sample is frame ``t`` of an episode (or, with ``rate=hz``, grid step ``k``: see
:mod:`kinonb.sampling.streams`); each key reads the frames ``t + offset`` for its window offsets. Which ``t``
are samples is documented in :mod:`kinonb.kernels.windows` (``pad="edge"``: every frame, windows clamped to
the key's frames and flagged in ``{key}_is_pad``; ``pad="none"``: only frames whose every window fits).
Each key's own frame count bounds its window (a final observation's ``T + 1`` rows); streams are anchored
latest-at on the frame's time; keys of mixed widths are padded (:mod:`kinonb.sampling.widths`); episodes
lacking a key are refused or skipped (:mod:`kinonb.sampling.keys`).

``read`` makes one compiled call per key per batch, straight from the file's memory map, through offsets that
were checked when the index was built.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..errors import InvalidArgumentError, PositionError
from ..kernels import build_sample_index
from ..kernels.jit import kernel
from .cameras import read_camera
from .images import ImageOptions
from .keys import Key, check_missing, key_blocks
from .reads import Grid, read_frames, read_grid
from .streams import (
    Segments,
    StreamAnchors,
    check_rate,
    check_staleness,
    grid_steps,
    segments,
)
from .widths import check_pad_dims

DEFAULT_IMAGE = ImageOptions(None, "bilinear", "HWC", False)


@kernel
def locate_samples(ids, sample_ep, sample_t, ep_out, t_out):
    """Look up the (episode, frame) of each sample id; return the position of the first bad id, or -1."""
    n = sample_ep.shape[0]
    for i in range(ids.shape[0]):
        j = ids[i]
        if j < 0 or j >= n:
            return i
        ep_out[i] = sample_ep[j]
        t_out[i] = sample_t[j]
    return -1


class SampleIndex:
    """Use :meth:`kinonb.Database.sample_index`.

    ``pad_dims``: ``None`` (keys of mixed widths padded to the batch's widest, with ``{key}_dim_mask``),
    ``{key: width}`` (that width in every batch) or ``False`` (refuse mixed widths). ``missing``: ``"error"`` or
    ``"skip"`` for episodes lacking a window key (:attr:`skipped_episodes`). ``rate``: samples on a grid of
    ``rate`` Hz instead of frames (offsets in grid steps; ``read`` adds ``time``). ``max_staleness``: seconds
    after which a latest-at frame is padded.
    """

    #: Whether ``read`` must fetch bytes before it gathers (a remote file's index): then only ``read`` may
    #: gather its samples, never a caller straight from :attr:`keys` (kinonb.interop.dataset.shard_gather).
    fetches = False

    def __init__(self, db, windows: dict, *, pad: str = "edge", episodes=None, pad_before=None, pad_after=None,
                 pad_dims=None, missing: str = "error", rate=None, max_staleness=None):
        if not isinstance(windows, dict) or not windows:
            raise InvalidArgumentError("windows must be a non-empty dict {key: offsets}, e.g. {'actions': range(16)}")
        self.db = db
        eps = episode_positions(episodes, db.num_episodes())
        offsets = {k: _offsets(k, v) for k, v in windows.items()}
        pad_dims = check_pad_dims(pad_dims, offsets)
        self.rate = check_rate(rate)
        max_stale = check_staleness(max_staleness)
        kept, lengths, blocks = key_blocks(db, list(offsets), eps, db.episode_lengths(eps), check_missing(missing))
        self.skipped_episodes = eps[~np.isin(eps, kept)]
        self.episodes = kept
        self._all_episodes = episodes is None and not len(self.skipped_episodes)
        self.keys = {k: Key(db, k, o, blocks[k], lengths, kept, pad_dims) for k, o in offsets.items()}
        self.pad = pad
        self._grid = self._time = self._frame = None
        if self.rate is None:
            self._frame_samples(lengths, pad, pad_before, pad_after, max_stale)
        else:
            self._grid_samples(lengths, pad, pad_before, pad_after, max_stale)

    def prefetch(self) -> int:
        """Ask the kernel to read the blocks of this index's low-dim keys (cameras are left out: they are big) for
        its episodes into the page cache now, in file order, and return at once: a first epoch over a cold file
        then reads memory, not disk (``posix_fadvise(WILLNEED)``, kinonb/store/page_cache.py). A hint only;
        returns the bytes asked for, 0 where the source is not a mapped .knb file."""
        will_need = getattr(self.db, "will_need", None)
        keys = [k for k in self.keys.values() if not k.is_camera]
        if will_need is None or not keys:
            return 0
        return will_need([k.blocks.buffer for k in keys], [k.byte_starts for k in keys], [k.byte_lengths for k in keys])

    @property
    def num_skipped(self) -> int:
        """Episodes left out by ``missing="skip"``."""
        return len(self.skipped_episodes)

    def _frame_samples(self, lengths, pad, pad_before, pad_after, max_stale) -> None:
        per_frame = [k.offsets for k in self.keys.values() if not k.is_stream] or [np.zeros(1, np.int64)]
        lo = min(int(o.min()) for o in per_frame)
        hi = max(int(o.max()) for o in per_frame)
        self._ep, self._t = build_sample_index(lengths, lo, hi, pad, pad_before, pad_after)
        streams = [k for k in self.keys.values() if k.is_stream]
        if not streams:
            if math.isfinite(max_stale):
                raise InvalidArgumentError("max_staleness applies to stream keys or rate=; windows name no stream")
            return
        clock = segments(self.db, None, self.episodes, lengths, "frame clock")
        for key in streams:
            times = segments(self.db, key.name, self.episodes, key.ep_len, f"times of stream {key.name!r}")
            key.anchors = StreamAnchors.build(clock, times, self._ep, self._t, max_stale)

    def _grid_samples(self, lengths, pad, pad_before, pad_after, max_stale) -> None:
        cameras = [k.name for k in self.keys.values() if k.is_camera]
        if cameras:
            raise InvalidArgumentError(f"rate= samples low-dim keys and streams; cameras {cameras} are read per "
                                       f"frame (leave rate=None)")
        clock = segments(self.db, None, self.episodes, lengths, "frame clock")
        lo = min(int(k.offsets.min()) for k in self.keys.values())
        hi = max(int(k.offsets.max()) for k in self.keys.values())
        self._ep, self._t = build_sample_index(grid_steps(clock, self.rate), lo, hi, pad, pad_before, pad_after)
        self._grid = Grid(clock.first(), clock.last(), self.rate, max_stale)
        self._time = self._grid.times(self._ep, self._t)
        self._frame = clock.latest(self._ep, self._time)
        for key in self.keys.values():
            if key.is_stream:
                key.times = segments(self.db, key.name, self.episodes, key.ep_len, f"times of stream {key.name!r}")
            else:
                key.times = Segments(clock.times, clock.start, np.minimum(key.ep_len, clock.length))

    def __len__(self) -> int:
        return len(self._t)

    def locate(self, i: int) -> tuple[int, int]:
        """(episode position in the file, frame t) of sample ``i``; with ``rate=``, (episode, grid step k)."""
        n = len(self)
        j = operator.index(i)
        if not -n <= j < n:
            raise PositionError(f"sample {i} out of range for {n} samples")
        return int(self.episodes[self._ep[j]]), int(self._t[j])

    @property
    def sample_episodes(self) -> np.ndarray:
        """Episode position in the file of every sample."""
        return self.episodes[self._ep]

    @property
    def sample_slots(self) -> np.ndarray:
        """Every sample's episode as its place in :attr:`episodes` (what each key's per-episode arrays, e.g.
        ``keys[k].ep_start``, are indexed by); frame mode's ``sample_frames`` are the frames in it."""
        return self._ep

    @property
    def sample_frames(self) -> np.ndarray:
        """Frame of every sample (with ``rate=``: the latest-at frame of its grid time)."""
        return self._t if self._frame is None else self._frame

    @property
    def sample_times(self) -> np.ndarray | None:
        """Grid time (seconds) of every sample with ``rate=``; None for frame samples."""
        return self._time

    def read(self, sample_ids, *, image_size=None, layout: str = "HWC", normalize: bool = False,
             mode: str = "bilinear", keys=None, out: dict | None = None, image: ImageOptions | None = None) -> dict:
        """Read a batch: per key an array ``(B, W, ...)`` and ``{key}_is_pad`` ``(B, W)`` (padded keys also
        ``{key}_dim_mask`` ``(B, width)``), plus ``episode`` and ``frame`` (and ``time`` with ``rate=``).

        Cameras come as uint8 ``(B, W, H, W, C)``, or resized to ``image_size`` (a pair, or a dict per camera),
        channels first with ``layout="CHW"``, float32 in [0, 1] with ``normalize``; ``image`` passes those four
        options parsed once (:class:`kinonb.sampling.ImageOptions`) instead. ``out`` may hold preallocated
        arrays per key (reused across batches).
        """
        ids = as_sample_ids(sample_ids)
        sample_ep = np.empty(len(ids), np.int64)
        sample_t = np.empty(len(ids), np.int64)
        bad = locate_samples(ids, self._ep, self._t, sample_ep, sample_t)
        if bad >= 0:
            raise PositionError(f"sample_ids must lie in [0, {len(self)}), found {ids[bad]} at position {bad}")
        if image is None:  # the defaults parse once: a low-dim read pays nothing for image options
            defaults = image_size is None and mode == "bilinear" and layout == "HWC" and not normalize
            image = DEFAULT_IMAGE if defaults else ImageOptions(image_size, mode, layout, normalize)
        names = self.keys if keys is None else list(keys)
        if keys is not None:
            for k in names:
                if k not in self.keys:
                    raise InvalidArgumentError(f"keys: {k!r} is not a key of this index ({list(self.keys)})")
        cameras = [k for k, key in self.keys.items() if key.is_camera]
        sizes = image.sizes(cameras) if cameras else {}
        out = out or {}
        batch = {}
        for name in names:
            key = self.keys[name]
            if key.is_camera:
                batch[name], batch[f"{name}_is_pad"] = read_camera(key, sample_ep, sample_t, sizes.get(name), image, out.get(name))
            elif self._grid is not None:
                batch.update(read_grid(key, self._grid, sample_ep, sample_t, out.get(name)))
            else:
                batch.update(read_frames(key, ids, sample_ep, sample_t, out.get(name)))
        batch["episode"] = sample_ep if self._all_episodes else self.episodes[sample_ep]
        batch["frame"] = sample_t if self._frame is None else self._frame[ids]
        if self._time is not None:
            batch["time"] = self._time[ids]
        return batch


def episode_positions(episodes, n: int) -> np.ndarray:
    """``episodes`` (None: all ``n``) as checked int64 positions in ``[0, n)``."""
    if episodes is None:
        return np.arange(n, dtype=np.int64)
    eps = np.asarray(episodes)
    if eps.ndim != 1 or not (eps.dtype.kind in "iu" or eps.size == 0):
        raise InvalidArgumentError(f"episodes must be a 1-D list of episode positions, got {eps.dtype} {eps.shape}")
    eps = eps.astype(np.int64)
    if eps.size and (eps.min() < 0 or eps.max() >= n):
        raise PositionError(f"episodes: positions must lie in [0, {n}), found {eps.min()}..{eps.max()}")
    return eps


def _offsets(key, value) -> np.ndarray:
    try:
        arr = np.asarray(list(value) if isinstance(value, range) else value)
    except TypeError:
        raise InvalidArgumentError(f"windows[{key!r}] must be a list of int offsets, got {value!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0 or not (arr.dtype.kind in "iu"):
        raise InvalidArgumentError(f"windows[{key!r}] must be a non-empty list of int offsets, got {value!r}")
    if np.abs(arr.astype(np.int64)).max() > 1 << 40:
        raise InvalidArgumentError(f"windows[{key!r}]: offsets beyond +-2**40 frames")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_sample_ids(sample_ids) -> np.ndarray:
    """A 1-D int64 array of ids (range-checked by :func:`locate_samples`)."""
    if type(sample_ids) is np.ndarray and sample_ids.dtype == np.int64 and sample_ids.ndim == 1:
        return sample_ids
    ids = np.asarray(sample_ids)
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.ndim != 1 or not (ids.dtype.kind in "iu" or ids.size == 0):
        raise InvalidArgumentError(f"sample_ids must be a 1-D array of ints, got {ids.dtype} {ids.shape}")
    if ids.dtype.kind == "u" and ids.size and ids.max() >= 1 << 63:
        raise PositionError(f"sample_ids: {ids.max()} is out of range")
    return np.ascontiguousarray(ids, dtype=np.int64)
