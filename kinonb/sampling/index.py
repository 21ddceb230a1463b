"""``SampleIndex``: frame-level training samples with windows per key, read a batch at a time.

A sample is frame ``t`` of an episode; each key reads the frames ``t + offset`` for its window offsets. Which
``t`` are samples is documented in :mod:`kinonb.kernels.windows` (``pad="edge"``: every frame, windows clamped
to the episode and flagged in ``{key}_is_pad``; ``pad="none"``: only frames whose every window fits).

``read`` makes one compiled call per key per batch, straight from the file's memory map, through offsets that
were checked when the index was built.
"""

from __future__ import annotations

import operator

import numpy as np

from ..errors import CorruptFieldError, InvalidArgumentError, PositionError
from ..format import layout as L
from ..kernels import build_sample_index, gather_windows, resize_frames
from ..kernels.jit import kernel
from ..kernels.lz4 import decode_frames
from ..protocol import ColumnBlocks, SampleSource
from .images import ImageOptions
from .outputs import output_array


@kernel
def _locate(ids, sample_ep, sample_t, ep_out, t_out):
    """Look up the (episode, frame) of each sample id; return the position of the first bad id, or -1."""
    n = sample_ep.shape[0]
    for i in range(ids.shape[0]):
        j = ids[i]
        if j < 0 or j >= n:
            return i
        ep_out[i] = sample_ep[j]
        t_out[i] = sample_t[j]
    return -1


class _Key:
    """What reading one key needs: its window and where its frames live (checked by the reader)."""

    def __init__(self, name: str, offsets: np.ndarray, blocks: ColumnBlocks, lengths: np.ndarray):
        col = blocks.column
        self.name = name
        self.column = col
        self.offsets = offsets
        self.blocks = blocks
        self.is_camera = col.role == L.ROLE_CAMERA
        self.row_elems = int(np.prod(col.shape, dtype=np.int64))
        self.ep_len = lengths
        self.byte_starts = blocks.starts
        if not blocks.compressed:
            self.flat = blocks.buffer.view(col.dtype)
            self.ep_start = blocks.starts // col.dtype.itemsize


class SampleIndex:
    """Use :meth:`kinonb.Database.sample_index`."""

    def __init__(self, db: SampleSource, windows: dict, *, pad: str = "edge", episodes=None, pad_before=None,
                 pad_after=None):
        if not isinstance(windows, dict) or not windows:
            raise InvalidArgumentError("windows must be a non-empty dict {key: offsets}, e.g. {'actions': range(16)}")
        self.db = db
        n = db.num_episodes()
        if episodes is None:
            eps = np.arange(n, dtype=np.int64)
        else:
            eps = np.asarray(episodes)
            if eps.ndim != 1 or not (eps.dtype.kind in "iu" or eps.size == 0):
                raise InvalidArgumentError(f"episodes must be a 1-D list of episode positions, got {eps.dtype} "
                                           f"{eps.shape}")
            eps = eps.astype(np.int64)
            if eps.size and (eps.min() < 0 or eps.max() >= n):
                raise PositionError(f"episodes: positions must lie in [0, {n}), found {eps.min()}..{eps.max()}")
        lengths = db.episode_lengths(eps)
        self.episodes = eps
        self._all_episodes = episodes is None
        offsets = {k: _offsets(k, v) for k, v in windows.items()}
        lo = min(int(o.min()) for o in offsets.values())
        hi = max(int(o.max()) for o in offsets.values())
        self.keys = {k: _Key(k, o, db.column_blocks(k, eps), lengths) for k, o in offsets.items()}
        self.pad = pad
        self._ep, self._t = build_sample_index(lengths, lo, hi, pad, pad_before, pad_after)

    def __len__(self) -> int:
        return len(self._t)

    def locate(self, i: int) -> tuple[int, int]:
        """(episode position in the file, frame t) of sample ``i``."""
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
    def sample_frames(self) -> np.ndarray:
        return self._t

    def read(self, sample_ids, *, image_size=None, layout: str = "HWC", normalize: bool = False,
             mode: str = "bilinear", keys=None, out: dict | None = None, image: ImageOptions | None = None) -> dict:
        """Read a batch: per key an array ``(B, W, ...)`` and ``{key}_is_pad`` ``(B, W)``.

        Cameras come as uint8 ``(B, W, H, W, C)``, or resized to ``image_size`` (a pair, or a dict per camera),
        channels first with ``layout="CHW"``, float32 in [0, 1] with ``normalize``; ``image`` passes those four
        options parsed once (:class:`kinonb.sampling.ImageOptions`) instead. ``out`` may hold preallocated
        arrays per key (reused across batches).
        """
        ids = _sample_ids(sample_ids)
        sample_ep = np.empty(len(ids), np.int64)
        sample_t = np.empty(len(ids), np.int64)
        bad = _locate(ids, self._ep, self._t, sample_ep, sample_t)
        if bad >= 0:
            raise PositionError(f"sample_ids must lie in [0, {len(self)}), found {ids[bad]} at position {bad}")
        if image is None:
            image = ImageOptions(image_size, mode, layout, normalize)
        names = list(self.keys) if keys is None else list(keys)
        for k in names:
            if k not in self.keys:
                raise InvalidArgumentError(f"keys: {k!r} is not a key of this index ({list(self.keys)})")
        cameras = [k for k, key in self.keys.items() if key.is_camera]
        sizes = image.sizes(cameras)
        out = out or {}
        batch = {}
        for name in names:
            key = self.keys[name]
            given = out.get(name)
            if key.is_camera:
                batch[name], batch[f"{name}_is_pad"] = self._read_camera(key, sample_ep, sample_t, sizes.get(name),
                                                                         image, given)
            else:
                batch[name], batch[f"{name}_is_pad"] = self._read_lowdim(key, sample_ep, sample_t, given)
        batch["episode"] = sample_ep if self._all_episodes else self.episodes[sample_ep]
        batch["frame"] = sample_t
        return batch

    # -- per key ---------------------------------------------------------------------------------------------
    def _read_lowdim(self, key: _Key, sample_ep, sample_t, given):
        b, w = len(sample_ep), len(key.offsets)
        result = output_array(given, (b, w, *key.column.shape), key.column.dtype, f"out[{key.name!r}]")
        is_pad = np.empty((b, w), np.bool_)
        gather_windows(key.flat, key.ep_start, key.ep_len, key.row_elems, sample_ep, sample_t, key.offsets,
                       result.reshape(b, w, key.row_elems), is_pad)
        return result, is_pad

    def _read_camera(self, key: _Key, sample_ep, sample_t, size, image: ImageOptions, given):
        h, w_, c = key.column.shape
        b, w = len(sample_ep), len(key.offsets)
        frame = sample_t[:, None] + key.offsets[None, :]
        last = key.ep_len[sample_ep][:, None] - 1
        is_pad = (frame < 0) | (frame > last)
        np.clip(frame, 0, last, out=frame)
        nbytes = key.column.frame_nbytes
        blocks = key.blocks
        if blocks.compressed:  # decode only the requested frames
            g = (blocks.frame_base[sample_ep][:, None] + frame).reshape(-1)
            src = np.empty(b * w * nbytes, np.uint8)
            try:
                decode_frames(blocks.buffer, blocks.frame_offset[g], blocks.frame_length[g], nbytes, src)
            except ValueError as e:
                raise CorruptFieldError(self.db.path(), None, f"lz4 frames of camera {key.name!r}", str(e)) from None
            starts = np.arange(b * w, dtype=np.int64) * nbytes
        else:
            src = blocks.buffer
            starts = (key.byte_starts[sample_ep][:, None] + frame * nbytes).reshape(-1)
        plain = size is None and not image.chw and not image.normalize
        oh, ow = (h, w_) if size is None else size
        shape = (b, w, c, oh, ow) if image.chw else (b, w, oh, ow, c)
        result = output_array(given, shape, np.float32 if image.normalize else np.uint8, f"out[{key.name!r}]")
        if plain and blocks.compressed:
            result.reshape(-1)[:] = src
        elif plain:
            flat_out = result.reshape(b, w, nbytes)
            pad_scratch = np.empty((b, w), np.bool_)
            gather_windows(src, key.byte_starts, key.ep_len, nbytes, sample_ep, sample_t, key.offsets,
                           flat_out, pad_scratch)
        else:
            resize_frames(src, starts, h, w_, c, result.reshape(b * w, *shape[2:]), image.mode, image.chw,
                          image.normalize)
        return result, is_pad


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


def _sample_ids(sample_ids) -> np.ndarray:
    """A 1-D int64 array of ids (range-checked by _locate)."""
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
