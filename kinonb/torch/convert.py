"""Every conversion the torch layer makes, each in exactly one function.

- :func:`to_tensor` / :func:`tensors`: numpy -> ``torch.Tensor`` (zero-copy when the array is writeable).
- :class:`ImageFormat`: resize, channels-first and scaling to [0, 1] with kinodb's defaults (the options are
  parsed by :class:`kinonb.sampling.ImageOptions`).
- :func:`episode_sample`: a ``read_episode`` dict -> a kinodb sample (``action``, ``state``, ``reward``,
  ``image``, ``task``, ``embodiment``, ``success``, ``episode_id``).
- :func:`window_batch`: a ``SampleIndex.read`` batch plus ``episode_id`` and ``task`` per sample.
- :func:`pad_dim` / :func:`dim_mask`: zero-pad the last axis to a width and say which entries are real.
- :func:`merge_parts`: batches read per source -> one batch in schedule order (padding the last axis).
- :func:`row`: sample ``i`` of a batch.
- :func:`cast_floats`: float arrays to the dataset's ``dtype``.
- :func:`stack_arrays`: per-episode arrays (``episode_arrays=``) as one batch array.

Nothing here reads a file; the datasets read, and call these to shape what they read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InvalidArgumentError
from ..sampling.images import ImageOptions
from ..sampling.merge import merge_parts  # noqa: F401  (re-exported: mixtures merge their sources' parts)
from ..sampling.merge import pad_last, width_mask
from ..sampling.resize import resize
from .shared_batch import SharedBatch

# read_episode key -> kinodb sample key
KINODB_KEYS = {"actions": "action", "states": "state", "rewards": "reward"}


# -- numpy -> torch ------------------------------------------------------------------------------------------
def to_tensor(value):
    """A numeric numpy array as a tensor; other values (and arrays of str) unchanged.

    Writeable arrays are shared (``torch.from_numpy``); read-only ones (zero-copy views of the file map) are
    copied first, since a tensor must own writeable memory.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind not in "OSU":
        if not value.flags.writeable:
            value = value.copy()
        return torch.from_numpy(value)
    return value


def tensors(sample: dict, enabled: bool = True) -> dict:
    """``to_tensor`` on every value of ``sample`` (a no-op when ``enabled`` is False); keeps its type."""
    if not enabled:
        return sample
    out = type(sample)((k, to_tensor(v)) for k, v in sample.items())
    if hasattr(sample, "__dict__"):  # a dict subclass's own attributes (MixtureRow.widths)
        out.__dict__.update(sample.__dict__)
    return out


class EpisodeSample(dict):
    """A whole-episode sample (kinodb's keys). A plain dict to the user; ``default_collate`` batches a list of
    them through :func:`kinonb.torch.collate.collate_episodes` (episodes differ in length)."""


class MixtureRow(dict):
    """A single windowed sample of a mixture, at its source's own dims. ``widths`` are the mixture's
    ``pad_dims``: ``default_collate`` pads a list of rows to them, with ``{key}_dim_mask``
    (:func:`kinonb.torch.pad_collate`), so sources of other action/state widths batch without a collate_fn."""

    def __init__(self, *args, widths: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.widths = dict(widths or {})


class Batch(SharedBatch):
    """A batch a dataset assembled itself (``KinoIterDataset(batch_size=...)``); ``default_collate`` refuses to
    stack several of them, with the fix in the message. It leaves a worker as one shared block."""


# -- images ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageFormat(ImageOptions):
    """:class:`kinonb.sampling.ImageOptions` (parsed there) with kinodb's defaults: nearest, CHW, float32 in
    [0, 1]. Windows hand it to ``SampleIndex.read`` (the batched kernel does the work); whole episodes go
    through :meth:`frames`. Both end in the same compiled resize kernel."""

    size: object = None
    mode: str = "nearest"
    layout: str = "CHW"
    normalize: bool = True
    mode_label: str = field(default="resize_mode", repr=False, compare=False)

    def frames(self, frames: np.ndarray, camera: str) -> np.ndarray:
        """Whole-episode frames ``(T, H, W, C)`` uint8 -> this format (``(T, C, h, w)`` float32 by default)."""
        size = self.size_of(camera)
        if size is None and self.plain:
            return frames
        return resize(frames, size or frames.shape[1:3], self.mode, layout=self.layout, normalize=self.normalize)


# -- samples and batches -------------------------------------------------------------------------------------
def episode_sample(ep: dict, camera: str | None = None, frames: np.ndarray | None = None,
                   image: ImageFormat | None = None) -> dict:
    """A ``read_episode`` dict (and one camera's frames) -> kinodb's sample keys.

    ``state`` / ``reward`` are left out when the file has no such column (kinodb .kdb files always have both).
    ``image`` and ``camera`` are present when ``frames`` is given.
    """
    meta = ep["meta"]
    out = EpisodeSample()
    for src, dst in KINODB_KEYS.items():
        if ep.get(src) is not None:
            out[dst] = np.asarray(ep[src])  # the dataset's dtype= applies (cast_floats)
    out["task"] = meta["task"]
    out["embodiment"] = meta["embodiment"]
    out["success"] = meta["success"]
    out["episode_id"] = meta["episode_id"]
    if frames is not None:
        out["image"] = (image or ImageFormat()).frames(frames, camera)
        out["camera"] = camera
    return out


def strings(values) -> np.ndarray:
    """Strings of a batch as a 1-D numpy array of ``str`` (dtype object).

    Not a list: the DataLoader passes a string array through as is, whereas it walks a list element by element
    (``default_convert`` after every ``batch_size=None`` fetch), which costs more than reading the batch.
    """
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def window_batch(batch: dict, episode_ids: np.ndarray, tasks: np.ndarray) -> dict:
    """Add ``episode_id`` (int64, the stored id) and ``task`` (str array, see :func:`strings`) to a
    ``SampleIndex.read`` batch. ``episode_ids`` and ``tasks`` hold one entry per episode position of the file."""
    pos = batch["episode"]
    batch["episode_id"] = episode_ids[pos]
    batch["task"] = tasks[pos]
    return batch


def row(batch: dict, i: int) -> dict:
    """Sample ``i`` of a batch: arrays and tensors indexed on their first axis, lists by position."""
    return {k: v[i] for k, v in batch.items()}


def cast_floats(sample: dict, dtype, skip=()) -> dict:
    """Float arrays of ``sample`` as numpy ``dtype`` (None: unchanged), in place; keys in ``skip`` (cameras,
    whose dtype ``normalize`` decides) are left alone."""
    if dtype is None:
        return sample
    for k, v in sample.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.dtype != dtype and k not in skip:
            sample[k] = v.astype(dtype)
    return sample


def stack_arrays(name: str, arrays: list) -> dict:
    """``{name: (B, ...)}`` from one array per sample; a last axis that differs between them is zero-padded to
    the widest, with ``{name}_dim_mask``."""
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1:
        return {name: np.stack(arrays)}
    if len({a.shape[:-1] for a in arrays}) > 1 or not all(a.ndim for a in arrays):
        raise InvalidArgumentError(f"episode_arrays: {name!r} has shapes {sorted(shapes)} across the episodes of "
                                   f"the batch; only the last axis may differ")
    width = max(a.shape[-1] for a in arrays)
    return {name: np.stack([pad_dim(a, width) for a in arrays]),
            f"{name}_dim_mask": dim_mask([a.shape[-1] for a in arrays], width, as_tensor=False)}


# -- padding the last axis -----------------------------------------------------------------------------------
def pad_dim(value, width: int):
    """Zero-pad the last axis of an array or tensor to ``width`` (unchanged when already that wide)."""
    if not isinstance(value, torch.Tensor):
        return pad_last(value, width)
    d = value.shape[-1]
    if d == width:
        return value
    if d > width:
        raise InvalidArgumentError(f"cannot pad a last axis of {d} down to {width}")
    out = value.new_zeros((*value.shape[:-1], width))
    out[..., :d] = value
    return out


def dim_mask(dims, width: int, as_tensor: bool):
    """Bool ``(len(dims), width)``: row ``i`` is True on its first ``dims[i]`` entries (the real ones)."""
    mask = width_mask(dims, width)
    return torch.from_numpy(mask) if as_tensor else mask


